#!/usr/bin/env python3
"""Generate sdq's embedded default data set: data/default/{train,eval}.json.

The files are in SQuAD v1.1 format, sized so that a 2-layer GPT-2 trained
from scratch on two CPU cores learns to answer within minutes:

- a context is 1 to 5 short sentences (a quarter of the contexts have one),
  each stating one fact about one of two or three people (a home city, a
  job, an age, a pet, the colour of an object, a favourite food, a month
  and year of birth);
- a question asks for one fact in one of several phrasings, and its answer
  is the span of the context that holds the value;
- facts of the same kind may be stated for several people in one context
  (with different values), so a model that only looks for "the city in the
  context" is right about half the time; to be always right it must bind
  the person in the question to the person in the sentence;
- people, values and their pairings are drawn at random for every context,
  so nothing can be memorised across contexts, and the evaluation contexts
  are new pairings of the same words.

Every name and most values are one GPT-2 token with a leading space (the
lists below were checked with 'sdq tokenize'); foods and birth dates give
answers of two or three tokens, so F1 also rewards partly right answers.
A prompt ("Context: ...\\nQuestion: ...\\nAnswer:") is 15 to 80 tokens.

The output depends only on the arguments.

Usage: scripts/make-default-data.py [--out data/default] [--seed 7]
                                    [--train 3000] [--eval 400] [--questions 2]
(--train and --eval count contexts; --questions is the max questions per
context, and a one-sentence context has one.)
"""
import argparse
import json
import os
import random

PEOPLE = ["Anna", "Ben", "Carl", "Dana", "Eric", "Fiona", "Greg", "Hannah", "Ivan", "Jack",
          "Kate", "Leo", "Maria", "Nick", "Olivia", "Paul", "Rosa", "Sam", "Tina", "Victor",
          "Wendy", "Adam", "Chris", "David", "Emma", "Frank", "Grace", "Henry", "James",
          "Laura", "Mike", "Nora", "Peter", "Ruth", "Simon", "Tom", "Vera", "Zoe", "Alice",
          "Bob", "Clara", "Fred", "Hugo", "Jane", "Karl", "Lisa", "Nina", "Ted", "Amy", "Joe",
          "Kim", "Ian", "Ada", "Eli", "Liam", "Ethan", "Lucy", "Jake", "Luke", "Ryan"]
PET_NAMES = ["Rex", "Spot", "Luna", "Coco", "Milo", "Daisy", "Oscar", "Ruby", "Max",
             "Bella", "Otto", "Rose", "Tony", "Ray", "Mark", "Iris"]
CITIES = ["Paris", "London", "Rome", "Berlin", "Tokyo", "Madrid", "Dublin", "Oslo", "Cairo",
          "Lima", "Vienna", "Prague", "Athens", "Boston", "Chicago", "Denver", "Seattle",
          "Toronto", "Sydney", "Moscow", "Dallas", "Miami", "Houston", "Atlanta", "Detroit",
          "Geneva", "Milan", "Lisbon", "Warsaw", "Munich", "Stockholm", "Seoul", "Bangkok",
          "Havana", "Montreal", "Melbourne"]
JOBS = ["baker", "farmer", "teacher", "doctor", "pilot", "nurse", "singer", "writer",
        "painter", "driver", "lawyer", "chef", "dancer", "soldier", "sailor", "judge",
        "banker", "tailor", "hunter", "poet", "miner"]
COLOURS = ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "purple",
           "orange", "grey", "gold", "silver"]
OBJECTS = ["boat", "house", "car", "hat", "door", "bike", "coat", "bag", "cup", "lamp",
           "shirt", "ball", "book", "pen", "ring", "clock", "phone", "truck"]
ANIMALS = ["cat", "dog", "horse", "goat", "rabbit", "owl", "fox", "cow", "pig", "duck",
           "mouse", "snake", "frog"]
FOODS = ["apple pie", "fish soup", "fried rice", "green salad", "tomato soup", "cheese bread",
         "chicken curry", "lemon cake", "bean stew", "potato salad", "rice pudding",
         "onion soup", "corn bread", "meat pie"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]

# Fact kinds. Each has sentence templates and question templates; {n} is the
# person, {v} the answer value, other fields are fixed parts of the fact
# ({o}: an object, {a}: an animal). "draw" gives the fact's fields.
KINDS = {
    "city": dict(
        draw=lambda rng: {"v": rng.choice(CITIES)},
        sentences=["{n} lives in {v}.", "{n}'s home is in {v}.", "{n} has a house in {v}."],
        questions=["Where does {n} live?", "In which city does {n} live?",
                   "What city is {n}'s home in?"]),
    "job": dict(
        draw=lambda rng: {"v": rng.choice(JOBS)},
        sentences=["{n} works as a {v}.", "{n} is a {v}.", "By trade, {n} is a {v}."],
        questions=["What is {n}'s job?", "What does {n} work as?",
                   "What is the trade of {n}?"]),
    "age": dict(
        draw=lambda rng: {"v": str(rng.randint(18, 90))},
        sentences=["{n} is {v} years old.", "{n} turned {v} this year."],
        questions=["How old is {n}?", "What is {n}'s age?"]),
    "pet": dict(
        draw=lambda rng: {"a": rng.choice(ANIMALS), "v": rng.choice(PET_NAMES)},
        sentences=["{n} has a {a} called {v}.", "{n} keeps a {a} named {v}."],
        questions=["What is {n}'s {a} called?", "What is the name of {n}'s {a}?"]),
    "animal": dict(
        draw=lambda rng: {"v": rng.choice(ANIMALS)},
        sentences=["{n} owns a {v}.", "{n} looks after a {v}."],
        questions=["What animal does {n} own?", "Which animal does {n} look after?"]),
    "colour": dict(
        draw=lambda rng: {"o": rng.choice(OBJECTS), "v": rng.choice(COLOURS)},
        sentences=["{n}'s {o} is {v}.", "The {o} of {n} is {v}.", "{n} painted the {o} {v}."],
        questions=["What colour is {n}'s {o}?", "What is the colour of {n}'s {o}?",
                   "Which colour is the {o} of {n}?"]),
    "food": dict(
        draw=lambda rng: {"v": rng.choice(FOODS)},
        sentences=["{n}'s favourite food is {v}.", "{n} likes {v} best."],
        questions=["What is {n}'s favourite food?", "What food does {n} like best?"]),
    "born": dict(
        draw=lambda rng: {"v": "%s %d" % (rng.choice(MONTHS), rng.randint(1950, 2005))},
        sentences=["{n} was born in {v}.", "{n}'s birthday was in {v}."],
        questions=["When was {n} born?", "In which month and year was {n} born?"]),
}
# Single-token kinds come up more often than the multi-token ones.
# Facts per context: short contexts come first in the list so that a model
# trained from scratch learns to copy from them early (the copied token is
# one of few), then the longer ones teach it to pick the right fact.
FACT_COUNTS = [1, 1, 2, 2, 3, 3, 4, 5]
KIND_WEIGHTS = {"city": 3, "job": 3, "age": 2, "pet": 2, "animal": 2, "colour": 3, "food": 1,
                "born": 1}


def fact_key(kind, fields):
    """Two facts about one person clash when they share this key."""
    return (kind, fields.get("o"), fields.get("a"))


def paragraph(rng, qid, n_questions):
    n_facts = rng.choice(FACT_COUNTS)
    people = rng.sample(PEOPLE, 1 if n_facts == 1 else rng.choice([2, 2, 3]))
    kinds = list(KIND_WEIGHTS)
    weights = [KIND_WEIGHTS[k] for k in kinds]
    facts, keys, values = [], set(), set()
    while len(facts) < n_facts:
        person = rng.choice(people)
        kind = rng.choices(kinds, weights)[0]
        fields = KINDS[kind]["draw"](rng)
        key = (person,) + fact_key(kind, fields)
        # One value per fact; a value stated twice in one context would make
        # the answer ambiguous for the model and for the span offsets.
        if key in keys or fields["v"] in values:
            continue
        if fields.get("a") in values:
            continue
        keys.add(key)
        values.update(fields.get(f) for f in ("v", "a") if f in fields)
        facts.append((person, kind, fields))

    text, spans = "", []
    for person, kind, fields in facts:
        template = rng.choice(KINDS[kind]["sentences"])
        before, after = template.split("{v}", 1)
        before = before.format(n=person, **fields)
        after = after.format(n=person, **fields)
        if text:
            text += " "
        start = len(text) + len(before)
        text += before + fields["v"] + after
        question = rng.choice(KINDS[kind]["questions"]).format(n=person, **fields)
        spans.append((question, fields["v"], start))

    qas = []
    for question, value, start in rng.sample(spans, min(n_questions, len(spans))):
        assert text[start:start + len(value)] == value
        qas.append({"id": "sdq%06d" % qid, "question": question,
                    "answers": [{"answer_start": start, "text": value}]})
        qid += 1
    return {"context": text, "qas": qas}, qid


def dataset(rng, n_paragraphs, n_questions, title_prefix, qid):
    articles = []
    per_article = 20
    for a in range(0, n_paragraphs, per_article):
        pars = []
        for _ in range(min(per_article, n_paragraphs - a)):
            par, qid = paragraph(rng, qid, n_questions)
            pars.append(par)
        articles.append({"title": "%s_%03d" % (title_prefix, a // per_article), "paragraphs": pars})
    return {"version": "1.1", "data": articles}, qid


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "data",
                                                  "default"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train", type=int, default=3000, help="training contexts")
    ap.add_argument("--eval", type=int, default=400, help="evaluation contexts")
    ap.add_argument("--questions", type=int, default=2, help="max questions per context")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    train, qid = dataset(rng, args.train, args.questions, "Train", 0)
    evaluation, _ = dataset(rng, args.eval, args.questions, "Eval", qid)
    os.makedirs(args.out, exist_ok=True)
    for name, data in (("train.json", train), ("eval.json", evaluation)):
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=None, separators=(",", ":"))
            f.write("\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
