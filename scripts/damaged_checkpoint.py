"""Write the demo's second checkpoint: the embedded model with a few layers' weights perturbed.

A deliberately bad checkpoint the promotion gates must block: the same architecture, tokenizer and
chat template as `--model=embedded`, with seeded Gaussian noise added to every weight of the first
LAYERS decoder layers. The noise is drawn from a seeded generator, so the checkpoint is the same
file for file, and has the same content hash, on every machine with the same library versions.

    python scripts/damaged_checkpoint.py REGISTRY_DIR     # prints the checkpoint's sha256

The checkpoint is saved as `REGISTRY_DIR/embedded-damaged/`, an HF-format directory that
`--model=sha256:<prefix> --eval-registry=REGISTRY_DIR` finds by hash (docs/model-references.md).
The settings are recorded beside the weights in `finetune.json` (benchmarks/finetune.py's record
of how a checkpoint was made; not a model file, so not part of the hash), and an existing checkpoint
made with the same settings is kept (it is only hashed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.finetune import cached, embedded_dir, load, save  # noqa: E402
from pytest_modeleval.modelref import content_hash  # noqa: E402

NAME = "embedded-damaged"
LAYERS = 6       # the first decoder layers, where damage propagates through everything after them
SCALE = 0.5      # noise standard deviation, as a fraction of each weight tensor's own standard deviation
SEED = 20260101


def damage(model, layers: int = LAYERS, scale: float = SCALE, seed: int = SEED) -> int:
    """Add seeded noise to every weight of the first `layers` decoder layers; the number of tensors changed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    changed = 0
    with torch.no_grad():
        for layer in model.model.layers[:layers]:
            for _, weight in sorted(layer.named_parameters()):
                noise = torch.randn(weight.shape, generator=generator, dtype=weight.dtype)
                weight.add_(noise * (scale * weight.std()))
                changed += 1
    return changed


def write(registry: Path, layers: int = LAYERS, scale: float = SCALE, seed: int = SEED) -> Path:
    """The damaged checkpoint's directory in `registry`, written unless it is there already."""
    target = registry / NAME
    config = {"source": "embedded", "layers": layers, "scale": scale, "seed": seed}
    if cached(target, config) is None:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        model, tokenizer = load(embedded_dir())
        damage(model, layers, scale, seed)
        save(model, tokenizer, target, config, losses=[])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("registry", type=Path, help="registry directory to write the checkpoint into")
    parser.add_argument("--layers", type=int, default=LAYERS, help=f"decoder layers perturbed (default {LAYERS})")
    parser.add_argument("--scale", type=float, default=SCALE, help=f"noise scale (default {SCALE})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"noise seed (default {SEED})")
    args = parser.parse_args(argv)
    target = write(args.registry, args.layers, args.scale, args.seed)
    print(content_hash(target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
