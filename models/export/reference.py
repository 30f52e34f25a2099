"""The reference set and reference pipeline that `export_onnx.py` writes next to each export.

`<id>.reference.json` holds, for 16 images the project generates itself (never the shared
datasets): each image's path and sha256, the model's embedding of it computed by the reference
pipeline (PIL decode → the checkpoint's own processor, or in --random-init mode the card's
preprocessing written with PIL + torchvision.transforms → torch forward → the card's pooling → L2
normalisation), per-image statistics of the preprocessed tensor and one image's full tensor.
`cbir models verify <id>` recomputes it all with radcbir's TypeScript preprocessing and
onnxruntime and says which stage differs.

Decoding follows PIL's `Image.open(path).convert("RGB")`, which is what the study's processors
receive, with one deliberate exception: 16-bit images. PIL converts a 16-bit PNG (mode "I") to
RGB by clipping at 255, which turns a 12-bit scan white; radcbir stretches the image's own
min..max range to 0..255 instead (round half up), and this file does the same, so the set checks
that rule too.

Only numpy and Pillow are needed to write the images; torch and torchvision to compute the
embeddings. Everything is imported lazily so `export_onnx.py --help` runs anywhere.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

FORMAT = "radcbir-reference"
VERSION = 1
IMAGES_DIR = "reference-images"
# The image whose whole preprocessed tensor goes into the reference (non-square, resized and cropped).
TENSOR_IMAGE = 3


def _pattern(w: int, h: int, seed: int, channels: int = 1, bits: int = 8, noise: float = 0.06):
    """A deterministic test image: a sine ramp, a disc, a 3-pixel checker and Gaussian noise."""
    import numpy as np

    rng = np.random.RandomState(seed)  # the legacy generator: stable across numpy versions
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        fx, fy = rng.uniform(0.5, 3.0, size=2)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        r = rng.uniform(0.15, 0.4) * min(w, h)
        v = 0.35 + 0.25 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + c)
        v += 0.3 * (((x - cx) ** 2 + (y - cy) ** 2) < r * r)
        v += 0.1 * (((x // 3 + y // 3) % 2) - 0.5)
        v += rng.normal(0, noise, size=v.shape)
        planes.append(np.clip(v, 0, 1))
    a = np.stack(planes, -1)
    top = (1 << bits) - 1
    return np.floor(a * top + 0.5).astype(np.uint16 if bits > 8 else np.uint8)


def _images():
    """The 16 reference images as (name, PIL image): every PNG kind radcbir decodes."""
    import numpy as np
    from PIL import Image

    def rgb(w, h, seed, **kw):
        return Image.fromarray(_pattern(w, h, seed, 3, **kw), "RGB")

    def gray(w, h, seed, **kw):
        return Image.fromarray(_pattern(w, h, seed, 1, **kw)[..., 0], "L")

    def with_alpha(base, seed, mode, opaque=False):
        alpha = _pattern(base.width, base.height, seed, 1)[..., 0]
        alpha[: base.height // 4] = 0  # a fully transparent band: PIL keeps the colour under it
        alpha[-(base.height // 4) :] = 255
        if opaque:
            alpha[:] = 255
        planes = [np.asarray(base)] if base.mode == "L" else [np.asarray(base)[..., i] for i in range(3)]
        return Image.fromarray(np.stack([*planes, alpha], -1), mode)

    g16_12 = Image.fromarray(_pattern(512, 384, 9, 1, bits=12)[..., 0].astype(np.uint16), "I;16")
    g16_full = Image.fromarray(_pattern(150, 100, 10, 1, bits=16)[..., 0].astype(np.uint16), "I;16")
    trns = rgb(64, 64, 12).quantize(16)
    trns.info["transparency"] = 3
    return [
        ("gray-224", gray(224, 224, 1)),
        ("gray-300x180", gray(300, 180, 2)),
        ("rgb-256", rgb(256, 256, 3)),
        ("rgb-640x480", rgb(640, 480, 4)),
        ("rgb-200x333", rgb(200, 333, 5)),
        ("rgba-opaque-128x96", with_alpha(rgb(128, 96, 6), 60, "RGBA", opaque=True)),
        ("rgba-160", with_alpha(rgb(160, 160, 7), 70, "RGBA")),
        ("gray-alpha-90", with_alpha(gray(90, 90, 8), 80, "LA")),
        ("gray16-12bit-512x384", g16_12),
        ("gray16-full-150x100", g16_full),
        ("palette-120x90", rgb(120, 90, 11).quantize(64)),
        ("palette-transparent-64", trns),
        ("tiny-rgb-7x5", rgb(7, 5, 13)),
        ("tiny-gray-5x7", gray(5, 7, 14)),
        ("large-rgb-1500x1100", rgb(1500, 1100, 15, noise=0.02)),
        ("large-gray-1100x1500", gray(1100, 1500, 16, noise=0.02)),
    ]


def calibration_batch(pre: dict, n: int = 16):
    """n generated images (other seeds than the reference set) preprocessed as the card says:
    the batch --random-init estimates BatchNorm statistics on."""
    from PIL import Image
    import torch

    run = card_preprocess(pre)
    h, w = pre["size"]
    imgs = [Image.fromarray(_pattern(w, h, 1000 + i, 3), "RGB") for i in range(n)]
    return torch.stack([run(img) for img in imgs])


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_images(out_dir: Path) -> list[dict]:
    """Write the reference PNGs into <out_dir>/reference-images (keeping files already there, so
    references written earlier stay valid) and return [{name, path, sha256, width, height, mode}]."""
    from PIL import Image

    folder = out_dir / IMAGES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, (name, img) in enumerate(_images()):
        path = folder / f"{i:02d}-{name}.png"
        if not path.exists():
            tmp = path.with_suffix(".png.tmp")
            img.save(tmp, format="PNG")
            tmp.replace(path)
        data = path.read_bytes()
        with Image.open(path) as back:
            entries.append(
                {"name": name, "path": f"{IMAGES_DIR}/{path.name}", "sha256": sha256_bytes(data),
                 "width": back.width, "height": back.height, "mode": back.mode}
            )
    return entries


def decode(path: Path):
    """PIL decode as the study's processors get it: Image.open(...).convert("RGB"); 16-bit images
    are min..max stretched to 8 bits first (radcbir's documented rule; PIL would clip at 255)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if img.mode in ("I", "I;16", "I;16B", "I;16L"):
            a = np.asarray(img).astype(np.float64)
            lo, hi = float(a.min()), float(a.max())
            if hi <= lo:
                hi = lo + 1
            v = np.floor((a - lo) * (255.0 / (hi - lo)) + 0.5)
            return Image.fromarray(np.clip(v, 0, 255).astype(np.uint8), "L").convert("RGB")
        return img.convert("RGB")


def card_preprocess(pre: dict):
    """The card's `preprocess`, written with PIL + torchvision.transforms (independent of radcbir's
    TypeScript): PIL RGB image → float32 tensor [C, H, W]."""
    import torch
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode as IM

    H, W = pre["size"]
    interp = {"nearest": IM.NEAREST, "bilinear": IM.BILINEAR, "bicubic": IM.BICUBIC, "lanczos": IM.LANCZOS}[
        pre["interpolation"]
    ]
    from PIL import Image

    pil_filter = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
                  "lanczos": Image.LANCZOS}[pre["interpolation"]]
    C = 1 if pre["channels"] == "gray" else 3

    def to_tensor(img):
        if abs(pre["rescale"] - 1 / 255) < 1e-12:
            t = F.to_tensor(img)  # uint8 / 255 in float32, as torchvision's ToTensor
        else:
            t = F.pil_to_tensor(img).float() * pre["rescale"]
        return F.normalize(t, pre["mean"][:C], pre["std"][:C])

    def run(img):
        if C == 1:
            img = img.convert("L")
        if pre["resize"] == "exact":
            return to_tensor(F.resize(img, [H, W], interp))
        if pre["resize"] == "shortest-edge":
            img = F.resize(img, pre.get("resizeTo", min(H, W)), interp)  # long side int(size · long / short)
            if pre["crop"] == "center":
                if pre.get("cropRounding") == "half-even":
                    img = F.center_crop(img, [H, W])  # torchvision: round((in - out) / 2)
                else:  # Hugging Face processors: floor((in - out) / 2)
                    img = F.crop(img, (img.height - H) // 2, (img.width - W) // 2, H, W)
            return to_tensor(img)
        # longest-edge-pad (SAM): scale the long side to L, int(x · s + 0.5), pad right/bottom or centre.
        L = pre.get("resizeTo", max(H, W))
        s = L / max(img.width, img.height)
        nw, nh = int(img.width * s + 0.5), int(img.height * s + 0.5)
        img = img.resize((nw, nh), pil_filter)
        x0, y0 = ((W - nw) // 2, (H - nh) // 2) if pre.get("padAlign") == "center" else (0, 0)
        pad = float(pre.get("padValue", 0))
        if pre.get("padStage") == "normalized":
            out = torch.full((C, H, W), pad)
        else:
            out = to_tensor(Image.new(img.mode, (W, H), (int(pad),) * C if C == 3 else int(pad)))
        out[:, y0 : y0 + nh, x0 : x0 + nw] = to_tensor(img)
        return out

    return run


def pool(card: dict, out):
    """The card's pooling of a model output (torch tensor, batch first) → [B, D]."""
    p = card["pooling"]
    if p == "cls-token":
        return out[:, 0]
    if p == "mean-patch-tokens":
        return out[:, card["onnx"].get("prefixTokens", 1) :].mean(1)
    if p == "mean-spatial":
        return out.mean((2, 3))
    return out


def _stats(t) -> list[float]:
    """Per channel: mean and mean of squares (float64) of a preprocessed tensor [C, H, W]."""
    t = t.double()
    return [v for c in range(t.shape[0]) for v in (float(t[c].mean()), float((t[c] ** 2).mean()))]


def compute(card: dict, module, preprocess, out_dir: Path, batch: int = 4) -> dict:
    """Embed the reference set: decode, `preprocess` (PIL RGB → [C, H, W]), forward, pool, L2."""
    import torch

    images = write_images(out_dir)
    tensors = [preprocess(decode(out_dir / e["path"])) for e in images]
    rows = []
    with torch.no_grad():
        for s in range(0, len(tensors), batch):
            x = torch.stack(tensors[s : s + batch]).float()
            rows.append(pool(card, module(x)).double())
    emb = torch.cat(rows)
    emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
    t = tensors[TENSOR_IMAGE].float().contiguous()
    return {
        "images": [{**e, "tensorStats": _stats(tensors[i])} for i, e in enumerate(images)],
        "embeddings": [[float(f"{v:.9g}") for v in row.tolist()] for row in emb],
        "tensor": {
            "image": TENSOR_IMAGE,
            "shape": list(t.shape),
            "dtype": "float32",
            "encoding": "base64, little endian",
            "data": base64.b64encode(t.numpy().astype("<f4").tobytes()).decode("ascii"),
        },
    }


def write(dest_json: Path, header: dict, body: dict) -> None:
    """Write <id>.reference.json atomically."""
    doc = {"format": FORMAT, "version": VERSION, **header, **body}
    tmp = dest_json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(dest_json)


def pairwise_min_cosine(embeddings: list[list[float]]) -> float:
    """Smallest cosine between the embeddings of two different reference images (how much the
    model tells the images apart: a check at cosine 0.9999 means little if this is near 1)."""
    import torch

    e = torch.tensor(embeddings, dtype=torch.float64)
    g = e @ e.T
    g.fill_diagonal_(2.0)
    return float(g.min())
