"""tok: an MLIR-based compiler for token-efficient transformer inference.

The Python interface of tok's driver library (docs/python.md):

- ``tok.Model.open(path, ...)``: a model in any format tok reads (a Hugging
  Face directory, a GGUF file, a llama2.c ``.bin``, ``"builtin"``), with a
  pass pipeline; ``generate`` (a result, or a stream of tokens), ``embed``
  (BERT-family encoders), ``cost_report``.
- ``tok.compile(module_text, pipeline)``: tok-opt as a function.
- ``tok.Module.load(module_text, pipeline)``: a module lowered and
  JIT-compiled, whose functions take and return NumPy arrays.

Errors are ``tok.Error`` and its subclasses, with tok's message (and, for
IR, the location of the first error).
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

# The runtime libraries the compiled code loads ship in tok/lib.
_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
if os.path.isdir(_LIB):
    os.environ.setdefault("TOK_RUNTIME_DIR", _LIB)

from . import _tok  # noqa: E402
from ._tok import (  # noqa: E402
    ArgumentError,
    CompileError,
    Error,
    ModelError,
    RuntimeCheckError,
)

__all__ = [
    "ArgumentError",
    "CompileError",
    "Error",
    "Function",
    "GenerateResult",
    "GenerateStats",
    "Model",
    "ModelError",
    "Module",
    "RuntimeCheckError",
    "Token",
    "TokenStream",
    "compile",
]

__version__ = "0.1.0"


def compile(module_text: str, pipeline: str, *, name: str = "<module>") -> str:
    """Parses ``module_text``, runs ``pipeline`` on it and returns the result.

    ``pipeline`` is tok-opt's ``--pass-pipeline`` syntax, with or without
    the ``builtin.module(...)`` anchor (``"tok-kv-evict{budget=64}"``,
    ``"convert-tok-to-linalg"``, ``"tok-to-llvm"``); ``""`` only parses and
    verifies. ``name`` names the text in error locations. Raises
    ``CompileError``. The GIL is released while it runs.
    """
    return _tok.compile(module_text, pipeline, name)


@dataclass(frozen=True)
class Token:
    """One generated token: its id and the text it added (the text of a
    token that ends inside a UTF-8 character, or that may begin a stop
    string, comes with a later token)."""

    id: int
    text: str


@dataclass(frozen=True)
class GenerateStats:
    """What one generation measured (``tok-run generate`` prints the same)."""

    prompt_tokens: int
    new_tokens: int
    #: From the call to the first new token, from the first to the last,
    #: and the whole call.
    prefill_seconds: float
    decode_seconds: float
    total_seconds: float
    #: Bytes of every KV cache (allocated once, at capacity), and the
    #: smallest and largest capacity of a layer's cache in slots.
    kv_bytes: int
    kv_slots: Tuple[int, int]
    #: Speculative decoding: target calls after the prefill, draft tokens
    #: verified, accepted (all 0 without it).
    rounds: int = 0
    drafted: int = 0
    accepted: int = 0

    @property
    def prefill_tokens_per_second(self) -> float:
        s = self.prefill_seconds
        return self.prompt_tokens / s if s > 0 else float("nan")

    @property
    def decode_tokens_per_second(self) -> float:
        s = self.decode_seconds
        return (self.new_tokens - 1) / s if s > 0 and self.new_tokens > 1 else float("nan")

    @property
    def acceptance_rate(self) -> Optional[float]:
        """Accepted / drafted tokens, or None without speculative decoding."""
        return self.accepted / self.drafted if self.drafted else None


@dataclass(frozen=True)
class GenerateResult:
    """A finished generation."""

    #: The new text (without the prompt; cut before a stop string).
    text: str
    #: The new token ids, and the prompt's.
    ids: List[int]
    prompt_ids: List[int]
    #: "length" (max_new_tokens), "eos" (an end-of-sequence token), "stop"
    #: (a stop string) or "cancelled" (the stream was closed early).
    finish_reason: str
    stats: Optional[GenerateStats] = None


def _stats(d: Optional[Dict[str, Any]]) -> Optional[GenerateStats]:
    if d is None:
        return None
    return GenerateStats(
        prompt_tokens=d["prompt_tokens"],
        new_tokens=len(d["tokens"]),
        prefill_seconds=d["prefill_seconds"],
        decode_seconds=d["decode_seconds"],
        total_seconds=d["total_seconds"],
        kv_bytes=d["kv_bytes"],
        kv_slots=(d["min_slots"], d["max_slots"]),
        rounds=d["rounds"],
        drafted=d["drafted"],
        accepted=d["accepted"],
    )


class _TextDecoder:
    """The text of generated tokens as tok-run streams it: every token
    decoded in the context of the prompt and the tokens before it (so that
    SentencePiece pieces keep their leading space), only whole UTF-8
    characters released."""

    def __init__(self, native: Any, prompt: Sequence[int], has_tokenizer: bool):
        self._native = native
        self._tokenizer = has_tokenizer
        self._context: List[int] = list(prompt)
        self._seen = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        if has_tokenizer:
            try:
                self._seen = len(native.decode(self._context))
            except ArgumentError:
                self._context = []

    def add(self, token: int) -> str:
        if not self._tokenizer:
            return "<%d>" % token
        self._context.append(token)
        try:
            data = self._native.decode(self._context)
        except ArgumentError:
            # Not decodable (an id beyond the tokenizer's vocabulary): the
            # id, and a new context after it.
            self._context = []
            self._seen = 0
            return self._utf8.decode(b"", final=True) + "<%d>" % token
        if len(data) < self._seen:
            self._context = [token]
            data = self._native.decode(self._context)
            self._seen = 0
        new = data[self._seen:]
        self._seen = len(data)
        return self._utf8.decode(new)

    def finish(self) -> str:
        return self._utf8.decode(b"", final=True)


class TokenStream(Iterator[Token]):
    """The tokens of a generation as they are chosen (``Model.generate(...,
    stream=True)``). The generation runs on a thread of its own; iterating
    waits for its next token without holding the GIL. Closing the stream
    (``close()``, leaving a ``with`` block, or dropping it) stops the
    compiled loop at its next token and frees what it allocated. After the
    last token, ``result`` holds the whole generation with its statistics.
    """

    def __init__(self, model: "Model", native: Any, prompt: List[int], stop: List[str],
                 eos: Sequence[int]):
        self._model = model
        self._native = native
        self._prompt = prompt
        self._stops = stop
        self._holdback = max((len(s) for s in stop), default=1) - 1
        self._eos = set(eos)
        self._decoder = _TextDecoder(model._native, prompt, model._info["has_tokenizer"])
        self._ids: List[int] = []
        self._text = ""
        self._emitted = 0
        self._held: Optional[int] = None
        self._finished = False
        self._reason: Optional[str] = None
        self._result: Optional[GenerateResult] = None

    def __iter__(self) -> "TokenStream":
        return self

    def _release(self, upto: int) -> str:
        if upto <= self._emitted:
            return ""
        out = self._text[self._emitted:upto]
        self._emitted = upto
        return out

    def _find_stop(self, start: int) -> Optional[int]:
        hits = [i for i in (self._text.find(s, start) for s in self._stops) if i >= 0]
        return min(hits) if hits else None

    def _end(self, reason: Optional[str]) -> None:
        self._finished = True
        self._native.close()
        stats = _stats(self._native.result())
        if reason is None:
            if stats is None or (self._native.result() or {}).get("stopped"):
                reason = "cancelled"
            elif self._ids and self._ids[-1] in self._eos:
                reason = "eos"
            else:
                reason = "length"
        if reason != "stop":
            self._text += self._decoder.finish()
        self._reason = reason
        self._result = GenerateResult(self._text, list(self._ids), list(self._prompt), reason,
                                      stats)

    def __next__(self) -> Token:
        while not self._finished:
            token = self._native.next()
            if token is None:
                self._end(None)
                break
            self._ids.append(token)
            before = len(self._text)
            self._text += self._decoder.add(token)
            if not self._stops:
                return Token(token, self._release(len(self._text)))
            hit = self._find_stop(max(0, before - self._holdback))
            if hit is not None:
                self._text = self._text[:hit]
                self._end("stop")
                if self._held is None:
                    self._held = token
                    break
                out = Token(self._held, self._release(len(self._text)))
                self._held = token
                return out
            previous, self._held = self._held, token
            if previous is not None:
                return Token(previous, self._release(len(self._text) - self._holdback))
        if self._held is not None:
            out = Token(self._held, self._release(len(self._text)))
            self._held = None
            return out
        raise StopIteration

    @property
    def text(self) -> str:
        """The text released so far."""
        return self._text[:self._emitted]

    @property
    def result(self) -> Optional[GenerateResult]:
        """The generation, once the stream has ended (else None)."""
        return self._result

    def close(self) -> None:
        """Stops the generation (if it still runs) and frees it."""
        if not self._finished:
            self._finished = True
            self._reason = "cancelled"
            self._native.close()

    def __enter__(self) -> "TokenStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        native = getattr(self, "_native", None)
        if native is not None:
            native.close()


Prompt = Union[str, Sequence[int]]


class Model:
    """A model opened, with the pass pipeline its code is compiled with.

    Decoders (Llama-family: ``"builtin"``, GGUF, llama2.c ``.bin``, Hugging
    Face Llama / Mistral / Qwen2 / Qwen3 / Gemma 2 / Gemma 3 / Phi-3
    directories) generate; BERT-family encoders (a Hugging Face directory
    whose config.json says ``"model_type": "bert"``) embed. A model is
    compiled on its first use for each prompt length and sampling setting
    (the machine code is kept in tok's JIT cache, so a setting seen before
    loads in milliseconds). Any number of models may be used from several
    threads at once.
    """

    def __init__(self, native: Any, kind: str, path: str):
        self._native = native
        self._kind = kind
        self._path = path
        self._info: Dict[str, Any] = native.info()

    @classmethod
    def open(
        cls,
        path: Union[str, "os.PathLike[str]"],
        pipeline: Optional[str] = None,
        cache_capacity: Optional[int] = None,
        *,
        tokenizer: Optional[str] = None,
        draft_model: Optional[str] = None,
        draft_skip: Optional[Sequence[int]] = None,
        prefill_chunk: int = 0,
        positions: Optional[int] = None,
        opt_level: int = 3,
        normalize: bool = True,
    ) -> "Model":
        """Opens ``path`` (``"builtin"``, a GGUF file, a llama2.c ``.bin``,
        or a Hugging Face directory).

        ``pipeline``: tok passes applied before lowering, as ``tok-run
        --pipeline`` takes them (``"tok-kv-evict{policy=window budget=36
        sinks=4 recent=32}"``, ``"tok-speculative-decoding{drafter=ngram}"``,
        ``"tok-token-merge{r=8}"`` for an encoder). ``cache_capacity``: KV
        slots per layer (default: prompt + new tokens). ``draft_model`` /
        ``draft_skip``: the draft of ``tok-speculative-decoding{drafter=model}``
        / ``{drafter=layer_skip}``. ``positions``: positions the model may
        use (default: its own). ``normalize``: an encoder's embeddings are
        L2-normalized. Raises ``ModelError`` for a model that cannot be
        opened, ``ArgumentError`` for options that do not fit it.
        """
        path = os.fspath(path)
        if _tok.is_encoder_path(path):
            if draft_model or draft_skip or cache_capacity:
                raise ArgumentError("an encoder takes no draft or cache options")
            encoder = _tok.Encoder.open(path, tokenizer or "", pipeline or "", normalize)
            return cls(encoder, "encoder", path)
        decoder = _tok.Decoder.open(
            path,
            tokenizer or "",
            pipeline or "",
            cache_capacity or 0,
            prefill_chunk,
            draft_model or "",
            list(draft_skip or []),
            opt_level,
            positions or 0,
            False,
        )
        return cls(decoder, "decoder", path)

    @property
    def kind(self) -> str:
        """"decoder" or "encoder"."""
        return self._kind

    @property
    def info(self) -> Dict[str, Any]:
        """The model's shape: vocab_size, dim, layers, heads, max_positions, ..."""
        return dict(self._info)

    @property
    def vocab_size(self) -> int:
        return int(self._info["vocab_size"])

    def tokenize(self, text: str, special: bool = True) -> List[int]:
        """The ids of ``text``; with ``special``, between the special tokens
        a prompt gets (BOS, or BERT's [CLS] ... [SEP]), as tok-run does."""
        if self._kind == "encoder":
            return list(self._native.encode(text))
        return list(self._native.encode(text, special))

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (a decoder's tokenizer)."""
        self._need("decoder", "detokenize")
        return bytes(self._native.decode(list(ids))).decode("utf-8", "replace")

    def _need(self, kind: str, what: str) -> None:
        if self._kind != kind:
            raise ArgumentError("%s is for %s models; %s is an %s" %
                                (what, kind, self._path, self._kind))

    def _prompt_ids(self, prompt: Prompt) -> List[int]:
        if isinstance(prompt, str):
            return self.tokenize(prompt)
        if isinstance(prompt, np.ndarray):
            prompt = prompt.tolist()
        ids = [int(i) for i in prompt]
        return ids

    def generate(
        self,
        prompt: Prompt,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
        stop: Union[None, str, Sequence[Union[str, int]]] = None,
        *,
        eos: Union[None, int, Sequence[int]] = None,
        stream: bool = False,
    ) -> Union[GenerateResult, TokenStream]:
        """Generates after ``prompt`` (text, or token ids).

        ``temperature`` 0 is greedy; otherwise sampling with ``top_k`` /
        ``top_p`` from a stream keyed by ``seed`` (the same tokens as
        ``tok-run generate`` with the same options). ``stop``: strings that
        end the generation (the text is cut before them) and token ids that
        do (as end-of-sequence tokens). ``eos``: the end-of-sequence ids
        (default: the model's; ``[]``: none). ``max_new_tokens`` is capped
        at the positions left after the prompt.

        Returns a ``GenerateResult``, or with ``stream=True`` a
        ``TokenStream`` of ``Token`` objects. Raises ``ArgumentError`` for a
        prompt or settings that do not fit, ``CompileError`` when the
        pipeline fails, ``RuntimeCheckError`` when a check of the compiled
        code fails.
        """
        self._need("decoder", "generate")
        ids = self._prompt_ids(prompt)
        stops: List[str] = []
        stop_ids: List[int] = []
        if isinstance(stop, str):
            stops = [stop]
        elif stop is not None:
            for item in stop:
                if isinstance(item, str):
                    if item:
                        stops.append(item)
                else:
                    stop_ids.append(int(item))
        if eos is None:
            eos_ids: Optional[List[int]] = None if not stop_ids else list(self._info["eos"])
        elif isinstance(eos, int):
            eos_ids = [eos]
        else:
            eos_ids = [int(i) for i in eos]
        if stop_ids:
            assert eos_ids is not None
            eos_ids = eos_ids + [i for i in stop_ids if i not in eos_ids]
        final_eos = list(self._info["eos"]) if eos_ids is None else eos_ids
        args = (ids, max_new_tokens, float(temperature), top_k, float(top_p), seed, eos_ids)
        if stream or stops:
            tokens_stream = TokenStream(self, self._native.stream(*args), ids, stops, final_eos)
            if stream:
                return tokens_stream
            for _ in tokens_stream:
                pass
            assert tokens_stream.result is not None
            return tokens_stream.result
        d = self._native.generate(*args)
        decoder = _TextDecoder(self._native, ids, self._info["has_tokenizer"])
        text = "".join(decoder.add(t) for t in d["tokens"]) + decoder.finish()
        tokens = list(d["tokens"])
        if tokens and tokens[-1] in set(final_eos) and len(tokens) < d["max_new_tokens"]:
            reason = "eos"
        elif tokens and tokens[-1] in set(final_eos):
            reason = "eos"
        else:
            reason = "length"
        return GenerateResult(text, tokens, ids, reason, _stats(d))

    def embed(self, texts: Union[str, Sequence[str], Sequence[Sequence[int]]],
              *, max_tokens: int = 0) -> np.ndarray:
        """Sentence embeddings of an encoder (mean-pooled, L2-normalized
        unless opened with ``normalize=False``), as ``tok-run embed``
        computes them: one float32 row per input, or one vector for a single
        string. Inputs are texts or token-id lists; ``max_tokens`` truncates
        longer ones keeping the last token ([SEP]), else they raise."""
        self._need("encoder", "embed")
        single = isinstance(texts, str)
        items: List[Any] = [texts] if single else list(texts)
        rows: List[List[int]] = []
        for item in items:
            row = self.tokenize(item) if isinstance(item, str) else [int(i) for i in item]
            if max_tokens and len(row) > max_tokens:
                if max_tokens < 2:
                    raise ArgumentError("max_tokens must be 0 or at least 2")
                row = row[: max_tokens - 1] + [row[-1]]
            rows.append(row)
        out = self._native.embed(rows)
        return out[0] if single else out

    def cost_report(self, prompt_tokens: int = 1, max_new_tokens: int = 64) -> Dict[str, Any]:
        """What ``tok-cost-report`` says of the compiled model: for a decoder
        the cost of one decode step as imported and after each pass of the
        pipeline (FLOPs, bytes moved, KV bytes, attention FLOPs), the KV
        cache's bytes and slots, the compile times; for an encoder the cost
        of one forward. The decoder's is that of the last generation (or of
        one compiled for ``prompt_tokens`` / ``max_new_tokens`` if none ran
        yet)."""
        if self._kind == "decoder":
            report = self._native.report()
            if report is None:
                self._native.prepare(prompt_tokens, max_new_tokens)
                report = self._native.report()
        else:
            report = self._native.report()
        report = dict(report)
        if "after_each_pass" in report:
            report["after_each_pass"] = [tuple(p) for p in report["after_each_pass"]]
        return report

    def __repr__(self) -> str:
        return "tok.Model(%r, kind=%r)" % (self._path, self._kind)


class Function:
    """A public function of a ``Module``, callable on NumPy arrays (any
    buffer-protocol or DLPack array in host memory) and numbers.

    C-contiguous arguments of the right element type are passed in place
    (the compiled code reads, and for memref arguments writes, the array's
    own memory); other layouts are copied first. Results that the compiled
    code allocated with the identity layout become arrays that own that
    memory (no copy). bf16 values travel as uint16 bits.
    """

    def __init__(self, module: "Module", name: str):
        self._module = module
        self.name = name

    @property
    def signature(self) -> str:
        return self._module._native.signature(self.name)

    def __call__(self, *args: Any) -> Any:
        converted = []
        for a in args:
            if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            converted.append(a)
        return self._module._native.call(self.name, converted)

    def __repr__(self) -> str:
        return "<tok.Function @%s: %s>" % (self.name, self.signature)


class Module:
    """A module lowered (``pipeline``, default ``tok-to-llvm``; ``"none"``
    for one already in the LLVM dialect) and JIT-compiled; its public
    functions are attributes (``m.main(x)``) and items (``m["main"]``).
    A failed run-time check in the compiled code raises
    ``RuntimeCheckError`` and leaves the process as it was."""

    def __init__(self, native: Any):
        self._native = native

    @classmethod
    def load(cls, module_text: str, pipeline: str = "tok-to-llvm", *, opt_level: int = 3,
             name: str = "<module>") -> "Module":
        return cls(_tok.LoadedModule.load(module_text, pipeline, opt_level, name))

    @property
    def functions(self) -> List[str]:
        return list(self._native.names())

    def __getitem__(self, name: str) -> Function:
        if name not in self._native.names():
            # The native lookup's error names the functions there are.
            self._native.signature(name)
        return Function(self, name)

    def __getattr__(self, name: str) -> Function:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._native.names():
            raise AttributeError("the module has no public function @%s (it has %s)" %
                                 (name, ", ".join("@" + n for n in self.functions) or "none"))
        return Function(self, name)
