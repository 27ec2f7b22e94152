"""
The native half of the tok package: bindings of tok's driver library (see the tok package for the documented API).
"""

from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray


def compile(module_text: str, pipeline: str, name: str = '<module>') -> str:
    """
    Parses a module, runs a pass pipeline on it (tok-opt's syntax, with or without the builtin.module(...) anchor) and returns the result as text.
    """

class LoadedModule:
    @staticmethod
    def load(module_text: str, pipeline: str = 'tok-to-llvm', opt_level: int = 3, name: str = '<module>') -> LoadedModule: ...

    def names(self) -> list[str]: ...

    def signature(self, name: str) -> str: ...

    def call(self, name: str, args: list) -> object: ...

class Stream:
    def next(self) -> int | None:
        """The next token id, or None at the end of the generation."""

    def close(self) -> None:
        """Stops the generation at its next token and waits for it."""

    def result(self) -> dict | None:
        """The generation's statistics once it has ended, else None."""

class Decoder:
    @staticmethod
    def open(path: str, tokenizer: str = '', pipeline: str = '', cache_capacity: int = 0, prefill_chunk: int = 0, draft_model: str = '', draft_skip: Sequence[int] = [], opt_level: int = 3, positions: int = 0, require_tokenizer: bool = False) -> Decoder: ...

    def generate(self, prompt: Sequence[int], max_new_tokens: int, temperature: float, top_k: int, top_p: float, seed: int, eos: Sequence[int] | None) -> dict: ...

    def stream(self, prompt: Sequence[int], max_new_tokens: int, temperature: float, top_k: int, top_p: float, seed: int, eos: Sequence[int] | None) -> Stream: ...

    def prepare(self, prompt_tokens: int, max_new_tokens: int) -> None: ...

    def encode(self, text: str, special: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> bytes: ...

    def report(self) -> dict | None: ...

    def info(self) -> dict: ...

class Encoder:
    @staticmethod
    def open(path: str, tokenizer: str = '', pipeline: str = '', normalize: bool = True) -> Encoder: ...

    def encode(self, text: str) -> list[int]: ...

    def embed(self, inputs: Sequence[Sequence[int]]) -> Annotated[NDArray[numpy.float32], dict(shape=(None, None))]: ...

    def report(self) -> dict: ...

    def info(self) -> dict: ...

def is_encoder_path(arg: str, /) -> bool: ...
