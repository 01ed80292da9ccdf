#!/usr/bin/python3
"""torch_reference.py - PyTorch reference for test_model_torch.

Usage: torch_reference.py DIR

DIR holds what the C test wrote: model.safetensors + config.json (HF GPT-2
layout), lora/fp32/adapter_model.safetensors + adapter_config.json (PEFT
layout), inputs.safetensors (tokens, targets, mask as F32, and for the
distillation loss soft_targets (R, V) over the R rows with nonzero mask,
soft_alpha and soft_temp) and
c_out.safetensors (the C model's loss, logits, d_embeds and grad.<LoRA name>).
This script rebuilds GPT-2 with LoRA in float64 from those files, computes the
same quantities with autograd and compares them. Exit status: 0 all within
tolerance, 1 a mismatch (printed), 77 torch or safetensors reading missing.
"""
import json
import math
import os
import struct
import sys

try:
    import torch
except ImportError:
    print("SKIP: PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch)")
    sys.exit(77)

# |c - ref| <= RTOL * max|ref| + ATOL per tensor. The C model runs in fp32,
# the reference in fp64; fp32 summation over tiny widths stays far below it.
RTOL = 1e-4
ATOL = 1e-6


def read_safetensors(path):
    """Return {name: float64 tensor} of an F32 safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def main():
    d = sys.argv[1]
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    lora = read_safetensors(os.path.join(d, "lora", "fp32", "adapter_model.safetensors"))
    lcfg = json.load(open(os.path.join(d, "lora", "fp32", "adapter_config.json")))
    inp = read_safetensors(os.path.join(d, "inputs.safetensors"))
    c_out = read_safetensors(os.path.join(d, "c_out.safetensors"))

    L, NH, C = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    scale = lcfg["lora_alpha"] / lcfg["r"]
    tokens = inp["tokens"].long()
    targets = inp["targets"].long()
    mask = inp["mask"]
    B, T = tokens.shape
    hs = C // NH

    for t in lora.values():
        t.requires_grad_(True)
    emb = w["wte.weight"][tokens].clone().requires_grad_(True)

    def linear(x, l, name):
        """HF Conv1D (weight [in, out]) plus the PEFT LoRA update."""
        y = x @ w[f"h.{l}.{name}.weight"] + w[f"h.{l}.{name}.bias"]
        A = lora[f"base_model.model.transformer.h.{l}.{name}.lora_A.weight"]
        Bm = lora[f"base_model.model.transformer.h.{l}.{name}.lora_B.weight"]
        return y + scale * (x @ A.T) @ Bm.T

    def ln(x, prefix):
        return torch.nn.functional.layer_norm(x, (C,), w[prefix + ".weight"], w[prefix + ".bias"], 1e-5)

    x = emb + w["wpe.weight"][:T]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        qkv = linear(ln(x, f"h.{l}.ln_1"), l, "attn.c_attn")
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, NH, hs).transpose(1, 2)
        k = k.view(B, T, NH, hs).transpose(1, 2)
        v = v.view(B, T, NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + linear(y, l, "attn.c_proj")
        h = gelu_tanh(linear(ln(x, f"h.{l}.ln_2"), l, "mlp.c_fc"))
        x = x + linear(h, l, "mlp.c_proj")
    logits = ln(x, "ln_f") @ w["wte.weight"].T
    flat = logits.reshape(B * T, -1)
    row_loss = torch.nn.functional.cross_entropy(flat, targets.reshape(-1), reduction="none")
    if "soft_targets" in inp:
        # (1 - alpha) CE + alpha tau^2 KL(p || softmax(z / tau)) on the masked rows.
        alpha, tau = inp["soft_alpha"].item(), inp["soft_temp"].item()
        rows = mask.reshape(-1) != 0
        p = inp["soft_targets"]
        log_q = torch.log_softmax(flat[rows] / tau, dim=-1)
        kl = (p * (p.log() - log_q)).sum(dim=-1)
        row_loss = row_loss.clone()
        row_loss[rows] = (1 - alpha) * row_loss[rows] + alpha * tau * tau * kl
    loss = (row_loss * mask.reshape(-1)).sum() / mask.sum()
    loss.backward()

    checks = [("loss", loss.detach().reshape(1), c_out["loss"]),
              ("logits", logits.detach(), c_out["logits"]),
              ("d_embeds", emb.grad, c_out["d_embeds"])]
    for name, t in lora.items():
        checks.append(("grad." + name, t.grad, c_out["grad." + name]))

    failed = 0
    worst = 0.0
    for name, ref, got in checks:
        if ref.shape != got.shape:
            print(f"FAIL {name}: shape {tuple(got.shape)} from C, {tuple(ref.shape)} from torch")
            failed += 1
            continue
        err = (ref - got).abs().max().item()
        bound = RTOL * ref.abs().max().item() + ATOL
        worst = max(worst, err / bound)
        if not err <= bound:
            print(f"FAIL {name}: max |C - torch| = {err:.3g} > {bound:.3g}")
            failed += 1
    print(f"{len(checks)} tensors compared (loss {loss.item():.6f}); "
          f"worst error / tolerance = {worst:.3f}; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
