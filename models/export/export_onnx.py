#!/usr/bin/env python3
"""Export the study's foundation models from their public checkpoints to ONNX for radcbir.

Each model is wrapped so that the ONNX graph has exactly the input and output that its card
(models/<id>.json) names: input `pixel_values` [batch, 3, H, W] float32, already preprocessed
as the card's `preprocess` says (radcbir does the preprocessing in TypeScript), and the card's
`onnx.output` tensor, which radcbir pools as the card's `pooling` says. After the export the
script checks the graph with onnxruntime against the PyTorch model (when onnxruntime is
installed), prints the file's sha256 and writes it into the card's `onnx.sha256`.

It also checks the card's preprocessing against the checkpoint's own processor config
(Hugging Face image processor / open_clip preprocess config) and refuses to export on a
mismatch unless --force is given.

After each export it embeds a fixed reference set of 16 generated images with the model's own
reference pipeline (PIL decode, the checkpoint's processor, torch forward, the card's pooling, L2
normalisation) and writes `<id>.reference.json` (plus the images, in `reference-images/`) next
to the ONNX file; `cbir models verify <id>` recomputes it with radcbir and onnxruntime.

`--random-init [--seed N]` exports the torchvision architectures of four cards (resnet50,
vit-b16, and Swin-B / Swin-T for ark-swinb / medclip-swint) with seeded random weights and the
same wrapping, output names and pooling, with no download; the reference preprocessing is then
the card's preprocessing written with PIL + torchvision.transforms (models/export/reference.py).
It also builds two bench architectures for bench/torch.ts (not cards, not in --list, no reference
file): `bench-vitl14` (CLIP ViT-L/14's visual tower, clip-vitl14's output) and `bench-vitb16-1024`
(a ViT-B/16 at 1024 px with SAM's neck, sam-vitb's output); each writes `<id>.json`, a card
derived from the real one, next to its ONNX file.

Heavy packages (torch, transformers, open_clip, timm, segment_anything, medclip) are imported
only when a model that needs them is exported, so `--help` and `--list` work without them.

Examples:
  python3 models/export/export_onnx.py --list
  python3 models/export/export_onnx.py --model vit-b16 dinov2-vitb14
  python3 models/export/export_onnx.py --model medsam-vitb --medsam-checkpoint ~/ckpt/medsam_vit_b.pth
  python3 models/export/export_onnx.py --all --out models/weights
  python3 models/export/export_onnx.py --model resnet50 vit-b16 --random-init --seed 0 --out /tmp/w
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # reference.py, imported lazily
CARDS_DIR = HERE.parent
DEFAULT_OUT = HERE.parent / "weights"

# Which library and checkpoint each card's model comes from (see the card's `source` and `notes`).
RECIPES = {
    "resnet50": "transformers ResNetForImageClassification microsoft/resnet-50 -> logits [B, 1000]",
    "vit-b16": "transformers ViTModel google/vit-base-patch16-224-in21k -> last_hidden_state [B, 197, 768]",
    "ark-swinb": "timm swin_base_patch4_window7_224 + Ark-6 checkpoint (--ark-checkpoint) -> pooled_features [B, 1024]",
    "sam-vitb": "transformers SamModel facebook/sam-vit-base get_image_embeddings -> image_embeddings [B, 256, 64, 64]",
    "medsam-vitb": "segment_anything vit_b + medsam_vit_b.pth (--medsam-checkpoint) image_encoder -> image_embeddings [B, 256, 64, 64]",
    "clip-vitl14": "open_clip ViT-L-14 pretrained=openai encode_image -> image_embeds [B, 768]",
    "medclip-swint": "medclip MedCLIPModel(MedCLIPVisionModelViT) vision_model -> image_embeds [B, 512]",
    "biomedclip-vitb16": "open_clip hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 encode_image -> image_embeds [B, 512]",
    "bmcclip-vitl14": "open_clip hf-hub:BIOMEDICA/BMC_CLIP_CF encode_image -> image_embeds [B, 768]",
    "mae-vitb16": "transformers ViTMAEModel facebook/vit-mae-base, mask_ratio=0, fixed noise -> last_hidden_state [B, 197, 768]",
    "dinov2-vitb14": "transformers Dinov2Model facebook/dinov2-base -> last_hidden_state [B, 257, 768]",
    "raddino-vitb14": "transformers Dinov2Model microsoft/rad-dino -> last_hidden_state [B, 1370, 768]",
}

PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}

# --random-init: the torchvision architecture standing in for each card's checkpoint.
RANDOM_INIT = {
    "resnet50": "torchvision resnet50 -> logits [B, 1000]",
    "vit-b16": "torchvision vit_b_16 encoder -> last_hidden_state [B, 197, 768]",
    "ark-swinb": "torchvision swin_b features + norm + average pool -> pooled_features [B, 1024]",
    "medclip-swint": "torchvision swin_t pooled 768 + Linear(768, 512, bias=False) -> image_embeds [B, 512]",
}

# --random-init bench architectures (bench/torch.ts only): id -> (card whose input, output and
# pooling it takes, architecture). torchvision 0.14 VisionTransformer blocks (nn.MultiheadAttention,
# GELU), so neither is the checkpoint's exact graph: CLIP uses QuickGELU and a bias-free patch conv;
# SAM's encoder uses 14x14 windowed attention with relative position terms in 8 of its 12 blocks,
# here every block attends globally over all 4096 tokens (heavier than SAM).
BENCH = {
    "bench-vitl14": (
        "clip-vitl14",
        "torchvision VisionTransformer(224 px, patch 14, 24 layers, 16 heads, width 1024, MLP 4096) as CLIP's "
        "visual tower: ln_pre, final LayerNorm, CLS token @ Linear(1024, 768, bias=False) -> image_embeds [B, 768]",
    ),
    "bench-vitb16-1024": (
        "sam-vitb",
        "torchvision VisionTransformer(1024 px, patch 16, 12 layers, 12 heads, width 768, MLP 3072), global "
        "attention over 4096 tokens in every block, no CLS, + SAM's neck (1x1 conv 256, LN2d, 3x3 conv 256, LN2d) "
        "-> image_embeddings [B, 256, 64, 64]",
    ),
}


def bench_card(cards_dir: Path, model_id: str) -> dict:
    """The card of a bench architecture: its base card's input, preprocessing, output and pooling."""
    base_id, arch = BENCH[model_id]
    card = json.loads((cards_dir / f"{base_id}.json").read_text(encoding="utf-8"))
    card.update(id=model_id, name=f"bench: {arch.split(' ->')[0]}", architecture=arch)
    card["onnx"] = {**card["onnx"], "file": f"{model_id}.onnx", "sha256": None}
    card["notes"] = [f"Bench architecture for bench/torch.ts (random weights), with {base_id}'s input, output and pooling; not a study model."]
    return card


def load_card(cards_dir: Path, model_id: str) -> tuple[dict, Path]:
    if model_id in BENCH:
        return bench_card(cards_dir, model_id), cards_dir / f"{BENCH[model_id][0]}.json"
    path = cards_dir / f"{model_id}.json"
    if not path.exists():
        sys.exit(f"{path}: no model card for '{model_id}' (ids: {', '.join(RECIPES)})")
    return json.loads(path.read_text(encoding="utf-8")), path


# ---- preprocessing checks ------------------------------------------------------------------

def _close(a, b, tol=1e-4) -> bool:
    return len(a) == len(b) and all(abs(float(x) - float(y)) <= tol for x, y in zip(a, b))


def check_hf_processor(card: dict, hub_id: str) -> list[str]:
    """Compare the card's preprocessing with a Hugging Face image processor config."""
    from transformers import AutoImageProcessor  # lazy

    p = AutoImageProcessor.from_pretrained(hub_id)
    pre = card["preprocess"]
    problems = []
    mean = list(getattr(p, "image_mean", []) or [])
    std = list(getattr(p, "image_std", []) or [])
    if mean and not _close(mean, pre["mean"]):
        problems.append(f"mean: processor {mean}, card {pre['mean']}")
    if std and not _close(std, pre["std"]):
        problems.append(f"std: processor {std}, card {pre['std']}")
    resample = getattr(p, "resample", None)
    if resample is not None and PIL_RESAMPLE.get(int(resample)) != pre["interpolation"]:
        problems.append(f"interpolation: processor {PIL_RESAMPLE.get(int(resample), resample)}, card {pre['interpolation']}")
    size = getattr(p, "size", None) or {}
    crop = getattr(p, "crop_size", None) or {}
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if "longest_edge" in size and pre["resize"] != "longest-edge-pad":
        problems.append(f"resize: processor longest_edge {size['longest_edge']}, card {pre['resize']}")
    if "shortest_edge" in size:
        expect = size["shortest_edge"]
        crop_pct = getattr(p, "crop_pct", None)
        if crop_pct and expect < 384:  # ConvNextImageProcessor: resize to shortest_edge / crop_pct, crop shortest_edge
            expect = int(expect / crop_pct)
        card_to = pre.get("resizeTo", min(pre["size"]))
        if pre["resize"] != "shortest-edge" or card_to != expect:
            problems.append(f"resize: processor shortest edge {expect}, card {pre['resize']} to {card_to}")
    if "height" in size and pre["resize"] == "exact" and [size["height"], size["width"]] != pre["size"]:
        problems.append(f"size: processor {size}, card {pre['size']}")
    if getattr(p, "do_center_crop", False) and crop and [crop.get("height"), crop.get("width")] != pre["size"]:
        problems.append(f"crop: processor {crop}, card {pre['size']}")
    return problems


def check_open_clip(card: dict, model) -> list[str]:
    """Compare the card's preprocessing with an open_clip model's preprocess config."""
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    pre = card["preprocess"]
    problems = []
    if cfg.get("mean") and not _close(cfg["mean"], pre["mean"]):
        problems.append(f"mean: open_clip {cfg['mean']}, card {pre['mean']}")
    if cfg.get("std") and not _close(cfg["std"], pre["std"]):
        problems.append(f"std: open_clip {cfg['std']}, card {pre['std']}")
    size = cfg.get("size") or getattr(model.visual, "image_size", None)
    if isinstance(size, int):
        size = [size, size]
    if size and list(size) != pre["size"]:
        problems.append(f"size: open_clip {size}, card {pre['size']}")
    if cfg.get("interpolation", "bicubic") != pre["interpolation"]:
        problems.append(f"interpolation: open_clip {cfg.get('interpolation')}, card {pre['interpolation']}")
    if cfg.get("resize_mode", "shortest") != "shortest" or pre["resize"] != "shortest-edge":
        problems.append(f"resize mode: open_clip {cfg.get('resize_mode', 'shortest')}, card {pre['resize']}")
    return problems


# ---- model wrappers ------------------------------------------------------------------------

def _out_module(inner, fn):
    """A module whose forward(pixel_values) is fn(inner, pixel_values): the card's output."""
    from torch import nn  # lazy

    class Out(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return fn(self.inner, pixel_values)

    return Out()


def _hf_preprocess(hub_id: str):
    """The checkpoint's own Hugging Face image processor: PIL RGB image → tensor [C, H, W]."""
    from transformers import AutoImageProcessor  # lazy

    p = AutoImageProcessor.from_pretrained(hub_id)
    return lambda img: p(images=img, return_tensors="pt")["pixel_values"][0]


def build_random(model_id: str, card: dict, seed: int):
    """--random-init: (module, [], reference preprocess) with seeded torchvision weights."""
    import torch  # lazy
    import torchvision
    from torch import nn

    from reference import calibration_batch, card_preprocess

    torch.manual_seed(seed)
    tv = torchvision.models

    def swin_pooled(m, x):  # torchvision SwinTransformer.forward without the head
        return m.flatten(m.avgpool(m.permute(m.norm(m.features(x)))))

    if model_id == "resnet50":
        net = tv.resnet50(weights=None)
        # BatchNorm statistics from generated images (not the reference set): with the default
        # running stats (0, 1) a random ResNet-50 maps every image to nearly the same logits
        # (least similar reference pair at cosine 0.997), which would make a 0.9999 check blind.
        for bn in net.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average
        net.train()
        with torch.no_grad():
            net(calibration_batch(card["preprocess"]))
        module = _out_module(net.eval(), lambda m, x: m(x))
    elif model_id == "vit-b16":

        def vit(m, x):  # tokens after the final LayerNorm, as Hugging Face's last_hidden_state
            t = m._process_input(x)
            return m.encoder(torch.cat([m.class_token.expand(t.shape[0], -1, -1), t], dim=1))

        module = _out_module(tv.vit_b_16(weights=None), vit)
    elif model_id == "ark-swinb":
        module = _out_module(tv.swin_b(weights=None), swin_pooled)
    elif model_id == "medclip-swint":
        inner = nn.ModuleDict({"backbone": tv.swin_t(weights=None), "projection": nn.Linear(768, 512, bias=False)})
        module = _out_module(inner, lambda m, x: m["projection"](swin_pooled(m["backbone"], x)))
    elif model_id in BENCH:
        module = build_bench(model_id)
    else:
        raise SystemExit(f"--random-init: no torchvision architecture for '{model_id}' (choose from {', '.join(RANDOM_INIT)})")
    return module, [], card_preprocess(card["preprocess"])


def build_bench(model_id: str):
    """The two bench architectures of BENCH (torch already seeded by build_random)."""
    import torch  # lazy
    from torch import nn
    from torchvision.models.vision_transformer import VisionTransformer

    if model_id == "bench-vitl14":
        inner = nn.ModuleDict({
            "vit": VisionTransformer(224, 14, num_layers=24, num_heads=16, hidden_dim=1024, mlp_dim=4096),
            "ln_pre": nn.LayerNorm(1024), "proj": nn.Linear(1024, 768, bias=False),
        })

        def clip(m, x):  # open_clip VisionTransformer: embed, ln_pre, blocks, ln_post, CLS @ proj
            v = m["vit"]
            t = v._process_input(x)
            t = torch.cat([v.class_token.expand(t.shape[0], -1, -1), t], dim=1) + v.encoder.pos_embedding
            return m["proj"](v.encoder.ln(v.encoder.layers(m["ln_pre"](t)))[:, 0])

        return _out_module(inner, clip)

    class LayerNorm2d(nn.Module):  # segment_anything.modeling.common.LayerNorm2d
        def __init__(self, c: int):
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

        def forward(self, x):
            u = x.mean(1, keepdim=True)
            x = (x - u) / torch.sqrt((x - u).pow(2).mean(1, keepdim=True) + 1e-6)
            return self.weight[:, None, None] * x + self.bias[:, None, None]

    inner = nn.ModuleDict({
        "vit": VisionTransformer(1024, 16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
        "neck": nn.Sequential(
            nn.Conv2d(768, 256, 1, bias=False), LayerNorm2d(256),
            nn.Conv2d(256, 256, 3, padding=1, bias=False), LayerNorm2d(256),
        ),
    })

    def sam(m, x):  # patch tokens + absolute positions, 12 global-attention blocks, neck on the 64x64 grid
        v = m["vit"]
        t = v.encoder.layers(v._process_input(x) + v.encoder.pos_embedding[:, 1:])
        return m["neck"](t.transpose(1, 2).reshape(-1, 768, 64, 64))

    return _out_module(inner, sam)


@contextlib.contextmanager
def bench_export_mode(module):
    """Export a bench architecture under no_grad: with grad enabled the trace keeps every block's
    attention for backward (1.6 GB a block at 1024 px and batch 2; killed for memory here). To keep
    nn.MultiheadAttention off its fused kernel, which torch 1.13's exporter cannot export, each one
    gets dropout 0.1 meanwhile: ignored in eval mode (F.multi_head_attention_forward sets it to 0),
    so the graph computes the same function."""
    import torch  # lazy
    from torch import nn

    mha = [m for m in module.modules() if isinstance(m, nn.MultiheadAttention)]
    saved = [m.dropout for m in mha]
    try:
        for m in mha:
            m.dropout = 0.1
        with torch.no_grad():
            yield
    finally:
        for m, d in zip(mha, saved):
            m.dropout = d


def build(model_id: str, card: dict, args) -> tuple[object, list[str], object]:
    """Return (torch module mapping pixel_values to the card's output, preprocessing problems,
    the checkpoint's own preprocessing: PIL RGB image → tensor [C, H, W])."""
    import torch  # lazy

    if args.random_init:
        return build_random(model_id, card, args.seed)
    Out = _out_module

    if model_id in ("resnet50", "vit-b16", "mae-vitb16", "dinov2-vitb14", "raddino-vitb14", "sam-vitb"):
        import transformers as tf  # lazy

        hub = {
            "resnet50": "microsoft/resnet-50", "vit-b16": "google/vit-base-patch16-224-in21k",
            "mae-vitb16": "facebook/vit-mae-base", "dinov2-vitb14": "facebook/dinov2-base",
            "raddino-vitb14": "microsoft/rad-dino", "sam-vitb": "facebook/sam-vit-base",
        }[model_id]
        problems = check_hf_processor(card, hub)
        pre = _hf_preprocess(hub)
        if model_id == "resnet50":
            m = tf.ResNetForImageClassification.from_pretrained(hub)
            return Out(m, lambda m, x: m(pixel_values=x).logits), problems, pre
        if model_id == "vit-b16":
            m = tf.ViTModel.from_pretrained(hub, add_pooling_layer=False)
            return Out(m, lambda m, x: m(pixel_values=x).last_hidden_state), problems, pre
        if model_id == "mae-vitb16":
            # Deliberate departure from the study (see the card's notes): no random masking.
            m = tf.ViTMAEModel.from_pretrained(hub, mask_ratio=0.0)

            def mae(m, x):
                n = (x.shape[-1] // m.config.patch_size) * (x.shape[-2] // m.config.patch_size)
                noise = torch.arange(n, dtype=x.dtype, device=x.device).unsqueeze(0).repeat(x.shape[0], 1)
                return m(pixel_values=x, noise=noise).last_hidden_state

            return Out(m, mae), problems, pre
        if model_id in ("dinov2-vitb14", "raddino-vitb14"):
            m = tf.Dinov2Model.from_pretrained(hub)
            return Out(m, lambda m, x: m(pixel_values=x).last_hidden_state), problems, pre
        m = tf.SamModel.from_pretrained(hub)
        return Out(m, lambda m, x: m.get_image_embeddings(x)), problems, pre

    if model_id == "medsam-vitb":
        if not args.medsam_checkpoint:
            sys.exit("medsam-vitb: pass --medsam-checkpoint medsam_vit_b.pth (download link in github.com/bowang-lab/MedSAM README)")
        from segment_anything import sam_model_registry  # lazy

        problems = check_hf_processor(card, "wanglab/medsam-vit-base")  # the processor the study used
        sam = sam_model_registry["vit_b"](checkpoint=str(Path(args.medsam_checkpoint).expanduser()))
        return Out(sam.image_encoder, lambda m, x: m(x)), problems, _hf_preprocess("wanglab/medsam-vit-base")

    if model_id in ("clip-vitl14", "biomedclip-vitb16", "bmcclip-vitl14"):
        import open_clip  # lazy

        if model_id == "clip-vitl14":
            m, _, pre = open_clip.create_model_and_transforms("ViT-L-14", pretrained="openai")
        elif model_id == "biomedclip-vitb16":
            m, pre = open_clip.create_model_from_pretrained("hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224")
        else:
            m, _, pre = open_clip.create_model_and_transforms("hf-hub:BIOMEDICA/BMC_CLIP_CF")
        return Out(m, lambda m, x: m.encode_image(x)), check_open_clip(card, m), pre  # open_clip's eval transform

    if model_id == "medclip-swint":
        from medclip import MedCLIPModel, MedCLIPProcessor, MedCLIPVisionModelViT  # lazy

        m = MedCLIPModel(vision_cls=MedCLIPVisionModelViT)
        try:
            m.from_pretrained(input_dir=args.medclip_checkpoint) if args.medclip_checkpoint else m.from_pretrained()
        except RuntimeError as e:
            # RyanWangZf/MedCLIP issue 37: newer transformers have no `position_ids` buffer in the
            # text model; load the downloaded weights without those keys (what the study patched).
            ckpt_dir = Path(args.medclip_checkpoint or "./pretrained/medclip-vit")
            weights = ckpt_dir / "pytorch_model.bin"
            if not weights.exists():
                raise SystemExit(f"medclip-swint: {e}\nand no {weights} to load by hand; pass --medclip-checkpoint DIR") from e
            sd = {k: v for k, v in torch.load(weights, map_location="cpu").items() if "position_ids" not in k}
            missing, unexpected = m.load_state_dict(sd, strict=False)
            bad = [k for k in list(missing) + list(unexpected) if "position_ids" not in k]
            if bad:
                raise SystemExit(f"medclip-swint: weights do not fit the model: {bad[:10]}") from e
        # vision_model(x) = Swin-T pooler output @ projection (512); encode_image also L2-normalises,
        # which radcbir does in its pipeline.
        proc = MedCLIPProcessor()  # the study's processor (CLIPFeatureExtractor with MedCLIP's mean/std)
        pre = lambda img: proc(images=img, return_tensors="pt")["pixel_values"][0]  # noqa: E731
        return Out(m.vision_model, lambda m, x: m(pixel_values=x)), [], pre

    if model_id == "ark-swinb":
        if not args.ark_checkpoint:
            sys.exit("ark-swinb: pass --ark-checkpoint <Ark-6 Swin-B .pth.tar> (request it via github.com/jlianglab/Ark)")
        import timm  # lazy

        m = timm.create_model("swin_base_patch4_window7_224", num_classes=0, pretrained=False)
        raw = torch.load(Path(args.ark_checkpoint).expanduser(), map_location="cpu")
        for key in ("teacher", "state_dict", "model"):
            if isinstance(raw, dict) and key in raw and isinstance(raw[key], dict):
                raw = raw[key]
                break
        sd = {}
        for k, v in raw.items():
            k = k.removeprefix("module.")
            if k.startswith(("head", "projector", "omni_heads")):
                continue  # Ark's projector and task heads: not part of the 1024-d features
            sd[k] = v
        missing, unexpected = m.load_state_dict(sd, strict=False)
        missing = [k for k in missing if "relative_position_index" not in k and "attn_mask" not in k]
        if missing:
            raise SystemExit(f"ark-swinb: checkpoint lacks backbone weights {missing[:10]}")
        if unexpected:
            print(f"ark-swinb: ignoring {len(unexpected)} unexpected keys, e.g. {list(unexpected)[:5]}")
        from reference import card_preprocess  # Ark's test transform is torchvision's, as the card writes it

        return Out(m, lambda m, x: m(x)), [], card_preprocess(card["preprocess"])

    raise SystemExit(f"no export recipe for '{model_id}'")


# ---- export --------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_graph(module, card: dict, dest: Path, args):
    """torch.onnx.export with the card's names and a dynamic batch axis, written atomically;
    returns the example input and torch's output on it."""
    import torch  # lazy

    onnx = card["onnx"]
    h, w = card["preprocess"]["size"]
    c = 1 if card["preprocess"]["channels"] == "gray" else 3
    tmp = dest.with_suffix(".onnx.tmp")
    x = torch.randn(args.batch, c, h, w)
    kwargs = dict(
        input_names=[onnx["input"]], output_names=[onnx["output"]],
        dynamic_axes={onnx["input"]: {0: "batch"}, onnx["output"]: {0: "batch"}},
        opset_version=args.opset, do_constant_folding=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: stable names and dynamic_axes
    with torch.no_grad():
        ref = module(x)
    # Outside no_grad: with grad enabled nn.MultiheadAttention skips its fused inference kernel
    # (aten::_native_multi_head_attention), which the ONNX exporter of torch 1.13 cannot export.
    torch.onnx.export(module, (x,), str(tmp), **kwargs)
    tmp.replace(dest)
    print(f"  wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB), output {tuple(ref.shape)}")
    return x, ref


def check_onnxruntime(dest: Path, card: dict, x, ref, atol: float) -> bool:
    """onnxruntime (Python, optional) vs torch on the example batch."""
    try:
        import numpy as np
        import onnxruntime as ort  # optional
    except ImportError:
        print("  onnxruntime (Python) not installed: skipped the numerical check; `cbir models verify` checks the reference")
        return True
    onnx = card["onnx"]
    sess = ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])
    got = sess.run([onnx["output"]], {onnx["input"]: x.numpy()})[0]
    diff = float(np.abs(got - ref.numpy()).max())
    scale = float(np.abs(ref.numpy()).max()) or 1.0
    print(f"  onnxruntime vs torch: max |diff| {diff:.2e} (max |value| {scale:.2e})")
    if diff > atol * max(1.0, scale):
        print("  numerical check FAILED")
        return False
    return True


def write_reference(model_id: str, card: dict, module, preprocess, dest: Path, digest: str, args) -> None:
    """Embed the reference set with the reference pipeline and write <id>.reference.json."""
    import PIL
    import torch  # lazy
    import torchvision

    import reference

    t0 = time.time()
    body = reference.compute(card, module, preprocess, dest.parent)
    pipeline = (
        "PIL decode + the card's preprocessing in torchvision.transforms + torch forward"
        if args.random_init
        else "PIL decode + the checkpoint's own processor + torch forward"
    )
    header = {
        "id": model_id,
        "mode": "random-init" if args.random_init else "checkpoint",
        "seed": args.seed if args.random_init else None,
        "architecture": RANDOM_INIT[model_id] if args.random_init else RECIPES[model_id],
        "onnx": {"file": dest.name, "sha256": digest},
        "pipeline": f"{pipeline} + {card['pooling']} pooling + L2 normalisation",
        "preprocess": card["preprocess"],
        "pooling": card["pooling"],
        "dim": len(body["embeddings"][0]),
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__},
    }
    out = dest.parent / f"{model_id}.reference.json"
    reference.write(out, header, body)
    apart = reference.pairwise_min_cosine(body["embeddings"])
    print(
        f"  reference: {len(body['images'])} images ({dest.parent / reference.IMAGES_DIR}) -> {out} "
        f"in {time.time() - t0:.1f} s; least similar pair cosine {apart:.4f}"
    )


def export_one(model_id: str, args) -> int:
    card, card_path = load_card(Path(args.cards), model_id)
    arch = BENCH[model_id][1] if model_id in BENCH else RANDOM_INIT.get(model_id)
    print(f"== {model_id}: {arch + f' (random init, seed {args.seed})' if args.random_init else RECIPES[model_id]}")
    module, problems, preprocess = build(model_id, card, args)
    for p in problems:
        print(f"  preprocessing mismatch: {p}")
    if problems and not args.force:
        print(f"  {card_path}: fix the card's preprocess (or pass --force to export anyway)")
        return 1
    if args.check_only:
        print("  preprocessing matches the card" if not problems else "  (--force)")
        return 0
    module.eval()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / card["onnx"]["file"]
    if model_id in BENCH:
        with bench_export_mode(module):
            x, ref = export_graph(module, card, dest, args)
    else:
        x, ref = export_graph(module, card, dest, args)
    if not check_onnxruntime(dest, card, x, ref, args.atol):
        return 1
    digest = sha256_file(dest)
    print(f"  sha256 {digest}")
    if model_id in BENCH:
        card_out = out_dir / f"{model_id}.json"
        card_out.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"  bench architecture: wrote its card {card_out}; no reference file (no card in models/ to verify)")
    elif not args.no_reference:
        write_reference(model_id, card, module, preprocess, dest, digest, args)
    if args.random_init:
        print("  random weights: the card's onnx.sha256 is left as it is")
    elif not args.no_update_card:
        card["onnx"]["sha256"] = digest
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"  updated {card_path}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Export the study's models to ONNX with the input/output names of their radcbir cards (models/<id>.json).",
        epilog="Needs (per model): torch, transformers, open_clip_torch, timm, segment_anything, medclip; "
        "optionally onnxruntime for the numerical check. See models/export/README.md.",
    )
    sel = ap.add_mutually_exclusive_group()
    sel.add_argument("--model", nargs="+", metavar="ID", help="card ids to export")
    sel.add_argument("--all", action="store_true", help="export all 12 study models")
    sel.add_argument("--list", action="store_true", help="list the models and their export recipes, then exit")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: models/weights)")
    ap.add_argument("--cards", default=str(CARDS_DIR), help="folder of the model cards (default: models)")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ap.add_argument("--batch", type=int, default=2, help="batch size of the example input (the batch axis is dynamic)")
    ap.add_argument("--atol", type=float, default=1e-3, help="tolerance of the onnxruntime-vs-torch check, relative to max |value|")
    ap.add_argument("--check-only", action="store_true", help="only compare the card's preprocessing with the checkpoint's processor")
    ap.add_argument("--force", action="store_true", help="export even when the preprocessing check finds a mismatch")
    ap.add_argument("--no-update-card", action="store_true", help="do not write the sha256 into the card")
    ap.add_argument("--no-reference", action="store_true", help="do not write <id>.reference.json (the reference embeddings)")
    ap.add_argument("--random-init", action="store_true",
                    help=f"seeded random weights in the torchvision architecture, no download ({', '.join(RANDOM_INIT)}; "
                    f"bench architectures for bench/torch.ts: {', '.join(BENCH)})")
    ap.add_argument("--seed", type=int, default=0, help="seed of --random-init (default 0)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--medsam-checkpoint", help="path to medsam_vit_b.pth")
    ap.add_argument("--ark-checkpoint", help="path to the Ark-6 Swin-B checkpoint")
    ap.add_argument("--medclip-checkpoint", help="folder with MedCLIP's pytorch_model.bin (default: download)")
    args = ap.parse_args(argv)

    if args.list:
        for model_id, recipe in RECIPES.items():
            card_file = Path(args.cards) / f"{model_id}.json"
            print(f"{model_id:18} {recipe}{'' if card_file.exists() else '  [no card]'}")
        return 0
    ids = list(RECIPES) if args.all else args.model
    if not ids:
        ap.print_usage()
        print("choose --model ID ..., --all or --list")
        return 2
    unknown = [i for i in ids if i not in RECIPES and not (args.random_init and i in BENCH)]
    if unknown:
        print(f"unknown model id(s): {', '.join(unknown)}; known: {', '.join(RECIPES)}")
        return 2
    if args.random_init:
        if args.all:
            ids = list(RANDOM_INIT)
        other = [i for i in ids if i not in RANDOM_INIT and i not in BENCH]
        if other:
            print(f"--random-init has no torchvision architecture for {', '.join(other)}; choose from {', '.join(RANDOM_INIT)} (or the bench architectures {', '.join(BENCH)})")
            return 2
    if args.threads:
        import torch  # lazy

        torch.set_num_threads(args.threads)
    status = 0
    for model_id in ids:
        status |= export_one(model_id, args)
    return status


if __name__ == "__main__":
    sys.exit(main())
