"""llama.cpp's side of bench/decode/quant.py: runs inside bench/.venv-llama.

Usage (by quant.py): python llama_cpp_peer.py decode MODEL IDS NEW THREADS
                     python llama_cpp_peer.py quantize IN OUT FTYPE

decode: loads MODEL (a GGUF) with plain CPU buffers (use_extra_bufts off:
its AMX repacking crashes on this machine), evaluates the prompt IDS
(comma-separated) and then NEW greedy tokens one at a time; prints one
JSON line with the prefill and decode tokens/s from llama.cpp's own
performance counters, and the generated ids.
quantize: llama.cpp's quantizer (llama_model_quantize) from IN to OUT at
FTYPE (q8_0, q4_0, q4_k_m).
"""

import ctypes
import json
import sys

import llama_cpp


def decode(model, ids, new, threads):
    llm = llama_cpp.Llama(model_path=model, n_ctx=len(ids) + new + 8, n_threads=threads,
                          n_threads_batch=threads, n_batch=512, verbose=False, use_extra_bufts=False)
    ctx = llm._ctx.ctx
    llama_cpp.llama_perf_context_reset(ctx)
    out = []
    for tok in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        out.append(int(tok))
        if len(out) == new:
            break
    perf = llama_cpp.llama_perf_context(ctx)
    prefill = perf.n_p_eval / (perf.t_p_eval_ms / 1e3) if perf.t_p_eval_ms > 0 else 0.0
    dec = perf.n_eval / (perf.t_eval_ms / 1e3) if perf.t_eval_ms > 0 else 0.0
    print(json.dumps({"prefill_tps": prefill, "decode_tps": dec, "n_prefill": perf.n_p_eval,
                      "n_decode": perf.n_eval, "ids": out}))


def quantize(src, dst, ftype):
    kinds = {"q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
             "q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = kinds[ftype]
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    if rc != 0:
        raise SystemExit("llama_model_quantize failed: %d" % rc)


if __name__ == "__main__":
    if sys.argv[1] == "decode":
        decode(sys.argv[2], [int(x) for x in sys.argv[3].split(",")], int(sys.argv[4]), int(sys.argv[5]))
    else:
        quantize(sys.argv[2], sys.argv[3], sys.argv[4])
