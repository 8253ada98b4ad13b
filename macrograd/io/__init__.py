"""Saving and loading: safetensors state dicts (`save`, `load`) and training checkpoints."""
from .checkpoint import load_checkpoint, save_checkpoint
from .pretrained import from_pretrained, save_pretrained
from .serialization import load, save

__all__ = ["from_pretrained", "load", "load_checkpoint", "save", "save_checkpoint", "save_pretrained"]
