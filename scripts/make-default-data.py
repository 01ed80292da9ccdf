#!/usr/bin/env python3
"""Generate sdq's embedded default data set: data/default/{train,eval}.json.

The files are in SQuAD v1.1 format. Each paragraph describes two or three
invented people with templated facts (home town, job, year of birth, pet,
favourite colour, a tool they own); every question asks for one fact with one
of several phrasings, and every answer is a span copied from the context with
its answer_start in code points. Names, towns and pets are made from random
syllables, so a model must read the context to answer: nothing can be
memorised across paragraphs. The output depends only on --seed.

Usage: scripts/make-default-data.py [--out data/default] [--seed 7]
                                    [--train 1500] [--eval 200]
(--train and --eval count paragraphs.)
"""
import argparse
import json
import os
import random

SYLLABLES = ["ka", "lo", "mi", "ren", "ta", "vo", "sel", "dun", "bri", "ga", "mor", "pel",
             "zan", "tu", "ri", "fen", "ol", "ash", "kel", "nor", "bex", "ul", "dra", "sim"]
JOBS = ["baker", "sailor", "painter", "farmer", "teacher", "doctor", "weaver", "potter",
        "miner", "singer", "carpenter", "fisher", "clockmaker", "gardener", "librarian",
        "blacksmith", "tailor", "pilot", "chemist", "shepherd"]
COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "grey", "white", "black",
           "brown", "silver", "gold"]
TOOLS = ["a copper kettle", "an old telescope", "a wooden flute", "a brass compass",
         "a silver hammer", "a leather map", "a glass lantern", "a stone bowl",
         "a paper kite", "an iron key", "a red umbrella", "a small harp"]
ANIMALS = ["cat", "dog", "goat", "parrot", "horse", "rabbit", "owl", "turtle"]


def word(rng, parts):
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def person(rng):
    return {
        "first": word(rng, rng.choice([2, 2, 3])),
        "last": word(rng, rng.choice([2, 3])),
        "town": word(rng, rng.choice([2, 3])),
        "job": rng.choice(JOBS),
        "year": str(rng.randint(1750, 1999)),
        "animal": rng.choice(ANIMALS),
        "pet": word(rng, 2),
        "colour": rng.choice(COLOURS),
        "tool": rng.choice(TOOLS),
    }


# Each fact: sentence templates and question templates. {n} is the full
# name, {f} the first name; the answer field is marked in the sentence.
FACTS = [
    ("town", ["{n} was born in {town}.", "{n} grew up in the town of {town}."],
     ["Where was {n} born?", "In which town did {n} grow up?", "What is the home town of {n}?"]),
    ("job", ["{f} works as a {job}.", "By trade, {f} is a {job}."],
     ["What is the job of {n}?", "What does {n} work as?", "What is {f}'s trade?"]),
    ("year", ["{f} was born in the year {year}.", "{f} came into the world in {year}."],
     ["In what year was {n} born?", "When was {f} born?", "Which year was {n} born in?"]),
    ("pet", ["{f} has a {animal} called {pet}.", "{f} keeps a {animal} named {pet}."],
     ["What is the name of {f}'s {animal}?", "What is {n}'s {animal} called?"]),
    ("colour", ["The favourite colour of {f} is {colour}.", "{f} likes the colour {colour} best."],
     ["What is the favourite colour of {n}?", "Which colour does {f} like best?"]),
    ("tool", ["{f} always carries {tool}.", "{f} owns {tool}."],
     ["What does {n} always carry?", "What does {f} own?"]),
]


def paragraph(rng, qid):
    people = [person(rng) for _ in range(rng.choice([2, 2, 3]))]
    sentences, spans = [], []
    text = ""
    for p in people:
        name = p["first"] + " " + p["last"]
        facts = rng.sample(FACTS, rng.randint(3, 5))
        for key, sent_templates, question_templates in facts:
            template = rng.choice(sent_templates)
            value = p[key]
            before, after = template.split("{" + key + "}", 1)
            before = before.format(n=name, f=p["first"], animal=p["animal"])
            after = after.format(n=name, f=p["first"], animal=p["animal"])
            sentence_start = len(text) + (1 if text else 0)
            text += (" " if text else "") + before + value + after
            start = sentence_start + len(before)
            question = rng.choice(question_templates).format(n=name, f=p["first"],
                                                             animal=p["animal"])
            spans.append((question, value, start))
    qas = []
    for question, value, start in rng.sample(spans, min(len(spans), rng.randint(3, 5))):
        assert text[start:start + len(value)] == value
        qas.append({"id": "sdq%06d" % qid, "question": question,
                    "answers": [{"answer_start": start, "text": value}]})
        qid += 1
    return {"context": text, "qas": qas}, qid


def dataset(rng, n_paragraphs, title_prefix, qid):
    articles = []
    per_article = 10
    for a in range(0, n_paragraphs, per_article):
        pars = []
        for _ in range(min(per_article, n_paragraphs - a)):
            par, qid = paragraph(rng, qid)
            pars.append(par)
        articles.append({"title": "%s_%03d" % (title_prefix, a // per_article), "paragraphs": pars})
    return {"version": "1.1", "data": articles}, qid


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data",
                                                  "default"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train", type=int, default=1500, help="training paragraphs")
    ap.add_argument("--eval", type=int, default=200, help="evaluation paragraphs")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    train, qid = dataset(rng, args.train, "Train", 0)
    evaluation, _ = dataset(rng, args.eval, "Eval", qid)
    os.makedirs(args.out, exist_ok=True)
    for name, data in (("train.json", train), ("eval.json", evaluation)):
        with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
