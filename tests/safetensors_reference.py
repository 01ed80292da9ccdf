#!/usr/bin/python3
"""safetensors_reference.py - independent PyTorch reference for tests/test_safetensors_torch.c.

The Debian 12 archive has no python3-safetensors package, so this script
writes and parses safetensors bytes itself with struct and json, and uses
torch (python3-torch) only for the dtype conversions.

  safetensors_reference.py write DIR
      Writes DIR/reference.safetensors with F32, F16, BF16, F64, I64, U8 and
      BOOL tensors, including every F16 and BF16 bit pattern. The data section
      is not in name order and the header has an odd length. For each tensor
      NAME it also writes DIR/NAME.f32: torch's conversion of its values to
      float32, raw little-endian.

  safetensors_reference.py check FILE DIR
      Parses FILE (written by sdq) on its own and compares each tensor with
      DIR/NAME.f32, byte for byte. Also checks what sdq promises about its
      layout: header padded with spaces to a multiple of 8 bytes, tensors in
      name order, data offsets contiguous from 0.

Exit status: 0 on success, 1 on a mismatch (with a message on stderr), 77
when torch cannot be imported.
"""
import json
import os
import struct
import sys

try:
    import torch
except ImportError as exc:
    print(f"safetensors_reference.py: torch is not importable ({exc}); "
          "install python3-torch", file=sys.stderr)
    sys.exit(77)

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def all_bit_patterns(dtype):
    """Every 16-bit pattern, reinterpreted as dtype (float16 or bfloat16)."""
    bits = torch.arange(65536, dtype=torch.int32).to(torch.int16)
    return bits.view(dtype)


def raw_bytes(tensor):
    """Little-endian bytes of a contiguous tensor (the host is little-endian)."""
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.view(torch.int16)
    elif tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    return tensor.contiguous().numpy().tobytes()


def write_reference(folder):
    generator = torch.Generator().manual_seed(1234)
    tensors = {
        "h.0.attn.c_attn.weight": torch.randn(8, 24, generator=generator),
        "f16.all": all_bit_patterns(torch.float16),
        "bf16.all": all_bit_patterns(torch.bfloat16),
        "f16.randn": torch.randn(3, 5, 7, generator=generator).to(torch.float16),
        "bf16.randn": (torch.randn(33, generator=generator) * 1e30).to(torch.bfloat16),
        "f64.mixed": torch.tensor([0.1, -1e300, 1e-310, 3.0e38, 3.5e38, 2.0 ** -149],
                                  dtype=torch.float64),
        "i64.small": torch.tensor([[-(2 ** 24), 0], [7, 2 ** 24]], dtype=torch.int64),
        "u8.bytes": torch.arange(256, dtype=torch.int32).to(torch.uint8),
        "bool.mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(2.5),
    }

    # Data in insertion order (not name order); the header lists names in a
    # third order, so the reader cannot rely on either.
    header = {"__metadata__": {"source": "safetensors_reference.py", "format": "pt"}}
    data = bytearray()
    for name, tensor in tensors.items():
        payload = raw_bytes(tensor)
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    ordered = dict(sorted(header.items(), key=lambda kv: kv[0][::-1]))
    text = json.dumps(ordered, separators=(",", ":")).encode("utf-8")
    if len(text) % 2 == 0:
        text += b" "  # an odd length puts the data section at an odd offset

    with open(os.path.join(folder, "reference.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(data))
    for name, tensor in tensors.items():
        expected = tensor.to(torch.float32).contiguous().numpy().tobytes()
        with open(os.path.join(folder, name + ".f32"), "wb") as f:
            f.write(expected)
    return 0


def fail(message):
    print(f"safetensors_reference.py: {message}", file=sys.stderr)
    return 1


def check_written(path, folder):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        return fail(f"{path}: {len(blob)} bytes, shorter than the length field")
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    if header_len % 8 != 0:
        return fail(f"{path}: header length {header_len} is not a multiple of 8")
    text = blob[8:8 + header_len]
    if not text.rstrip(b" ").endswith(b"}"):
        return fail(f"{path}: the header is not JSON followed by space padding")
    header = json.loads(text.decode("utf-8"))
    data = blob[8 + header_len:]
    header.pop("__metadata__", None)

    names = list(header)
    if names != sorted(names):
        return fail(f"{path}: tensors are not in name order: {names}")
    offset = 0
    for name in names:
        entry = header[name]
        begin, end = entry["data_offsets"]
        if entry["dtype"] != "F32" or begin != offset:
            return fail(f"{path}: tensor {name!r}: dtype {entry['dtype']}, begin {begin}, "
                        f"expected F32 at {offset}")
        count = 1
        for dim in entry["shape"]:
            count *= dim
        if end - begin != 4 * count:
            return fail(f"{path}: tensor {name!r}: {end - begin} bytes for {count} floats")
        offset = end

        values = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32) \
            if end > begin else torch.zeros(0)
        with open(os.path.join(folder, name + ".f32"), "rb") as f:
            expected = f.read()
        if values.numpy().tobytes() != expected:
            return fail(f"{path}: tensor {name!r}: values differ from {name}.f32")
    if offset != len(data):
        return fail(f"{path}: data section is {len(data)} bytes, tensors cover {offset}")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "write":
        return write_reference(argv[2])
    if len(argv) == 4 and argv[1] == "check":
        return check_written(argv[2], argv[3])
    print("usage: safetensors_reference.py write DIR | check FILE DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
