"""Minimal safetensors reader/writer for the golden-fixture scripts (standard library + torch only).

The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}} padded with
spaces to a multiple of 8, then the tensors' little-endian bytes back to back. No `safetensors`
package is needed (none is installed where these scripts run); values go through `struct`, so the
bytes do not depend on numpy or on the host's byte order.
"""
import json
import os
import struct

import torch

# dtype name -> (struct code, item bytes, torch dtype)
_DTYPES = {
    'F64': ('d', 8, torch.float64),
    'F32': ('f', 4, torch.float32),
    'F16': ('e', 2, torch.float16),
    'I64': ('q', 8, torch.int64),
    'I32': ('i', 4, torch.int32),
    'I8': ('b', 1, torch.int8),
    'U8': ('B', 1, torch.uint8),
}
_BY_TORCH = {v[2]: k for k, v in _DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (dtype kept: F64/F32/F16/I64/I32/I8/U8) in name order; temp file + rename."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in _BY_TORCH:
            raise ValueError(f'{name}: unsupported dtype {t.dtype}')
        dt = _BY_TORCH[t.dtype]
        code, item, _ = _DTYPES[dt]
        values = t.reshape(-1).tolist()
        data = struct.pack(f'<{len(values)}{code}', *values)
        assert len(data) == t.numel() * item
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as fh:
        fh.write(struct.pack('<Q', len(text)))
        fh.write(text)
        for c in chunks:
            fh.write(c)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads a file written by write_safetensors (or any F64/F32/F16/I64/I32/I8/U8 file): ({name: tensor}, metadata)."""
    with open(path, 'rb') as fh:
        raw = fh.read()
    (n,) = struct.unpack_from('<Q', raw, 0)
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        code, item, tdt = _DTYPES[e['dtype']]
        begin, end = e['data_offsets']
        count = (end - begin) // item
        values = struct.unpack_from(f'<{count}{code}', raw, base + begin)
        out[name] = torch.tensor(values, dtype=tdt).reshape(e['shape'])
    return out, metadata
