//===- Llama2c.cpp - llama2.c checkpoints ---------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Llama2c.h"
#include "FileError.h"

#include "llvm/ADT/Twine.h"

#include <cstring>
#include <limits>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

namespace {
/// One weight group of the file layout: `count` tensors of `shape`.
struct Group {
  std::string name; // with "{}" for the layer index
  int64_t count;
  llvm::SmallVector<int64_t> shape;
};
} // namespace

/// a * b, or -1 on overflow past 2^62.
static int64_t mul(int64_t a, int64_t b) {
  if (a < 0 || b < 0)
    return -1;
  if (a && b > (int64_t{1} << 62) / a)
    return -1;
  return a * b;
}

llvm::Expected<std::unique_ptr<Llama2cCheckpoint>>
Llama2cCheckpoint::open(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parse(std::move(*buffer), path);
}

llvm::Expected<std::unique_ptr<Llama2cCheckpoint>>
Llama2cCheckpoint::parse(std::unique_ptr<llvm::MemoryBuffer> buffer,
                         StringRef name) {
  StringRef bytes = buffer->getBuffer();
  auto readI32 = [&](size_t offset) {
    int32_t v;
    std::memcpy(&v, bytes.data() + offset, 4);
    return static_cast<int64_t>(v);
  };
  // The constructor is private, so no make_unique.
  // NOLINTNEXTLINE(modernize-make-unique)
  auto ckpt = std::unique_ptr<Llama2cCheckpoint>(new Llama2cCheckpoint());
  Llama2cConfig &c = ckpt->config;
  size_t headerSize;
  uint32_t magic = 0;
  if (bytes.size() >= 4)
    std::memcpy(&magic, bytes.data(), 4);
  if (magic == 0x616b3432) { // "ak42", export.py's versioned format
    if (bytes.size() < 256)
      return fileError(name, "truncated header (" + Twine(bytes.size()) +
                                 " bytes, the versioned header has 256)");
    c.version = static_cast<int>(readI32(4));
    if (c.version != 1)
      return fileError(name, "checkpoint version " + Twine(c.version) +
                                 " is not supported (only version 1, "
                                 "float32, and the legacy layout are)");
    c.dim = readI32(8);
    c.hiddenDim = readI32(12);
    c.layers = readI32(16);
    c.heads = readI32(20);
    c.kvHeads = readI32(24);
    c.vocab = readI32(28);
    c.seqLen = readI32(32);
    c.sharedClassifier = bytes[36] != 0;
    headerSize = 256;
  } else {
    if (bytes.size() < 28)
      return fileError(name, "truncated header (" + Twine(bytes.size()) +
                                 " bytes, the legacy header has 28)");
    c.dim = readI32(0);
    c.hiddenDim = readI32(4);
    c.layers = readI32(8);
    c.heads = readI32(12);
    c.kvHeads = readI32(16);
    c.vocab = readI32(20);
    c.seqLen = readI32(24);
    // A negative vocabulary size marks an unshared classifier.
    c.sharedClassifier = c.vocab > 0;
    if (c.vocab < 0)
      c.vocab = -c.vocab;
    headerSize = 28;
  }

  struct Param {
    const char *what;
    int64_t value;
  };
  for (Param p : {Param{"dim", c.dim},
                  {"hidden_dim", c.hiddenDim},
                  {"n_layers", c.layers},
                  {"n_heads", c.heads},
                  {"n_kv_heads", c.kvHeads},
                  {"vocab_size", c.vocab},
                  {"seq_len", c.seqLen}})
    if (p.value <= 0)
      return fileError(name, Twine(p.what) + " must be positive, got " +
                                 Twine(p.value));
  if (c.dim % c.heads != 0)
    return fileError(name, "dim " + Twine(c.dim) +
                               " is not a multiple of n_heads " +
                               Twine(c.heads));
  if (c.heads % c.kvHeads != 0)
    return fileError(name, "n_heads " + Twine(c.heads) +
                               " is not a multiple of n_kv_heads " +
                               Twine(c.kvHeads));
  if (c.headDim() % 2 != 0)
    return fileError(name, "head size " + Twine(c.headDim()) +
                               " is odd; RoPE needs pairs");

  int64_t numLayers = c.layers, dim = c.dim, hidden = c.hiddenDim,
          headDim = c.headDim();
  int64_t qDim = c.heads * headDim, kvDim = c.kvHeads * headDim;
  auto layer = [](const char *suffix) {
    return std::string("model.layers.{}.") + suffix;
  };
  std::vector<Group> groups;
  Group embed{"model.embed_tokens.weight", 1, {c.vocab, dim}};
  Group attnNorm{layer("input_layernorm.weight"), numLayers, {dim}};
  Group ffnNorm{layer("post_attention_layernorm.weight"), numLayers, {dim}};
  Group finalNorm{"model.norm.weight", 1, {dim}};
  // llama2.c stores every matrix as out x in, like Hugging Face.
  std::vector<Group> matrices = {
      {layer("self_attn.q_proj.weight"), numLayers, {qDim, dim}},
      {layer("self_attn.k_proj.weight"), numLayers, {kvDim, dim}},
      {layer("self_attn.v_proj.weight"), numLayers, {kvDim, dim}},
      {layer("self_attn.o_proj.weight"), numLayers, {dim, qDim}},
  };
  std::vector<Group> mlp = {
      {layer("mlp.gate_proj.weight"), numLayers, {hidden, dim}},
      {layer("mlp.down_proj.weight"), numLayers, {dim, hidden}},
      {layer("mlp.up_proj.weight"), numLayers, {hidden, dim}},
  };
  if (c.version == 0) {
    groups.push_back(embed);
    groups.push_back(attnNorm);
    groups.insert(groups.end(), matrices.begin(), matrices.end());
    groups.push_back(ffnNorm);
    groups.insert(groups.end(), mlp.begin(), mlp.end());
    groups.push_back(finalNorm);
    // RoPE tables llama2.c no longer uses: seq_len x head/2, real and imag.
    groups.push_back({"freq_cis_real", 1, {c.seqLen, headDim / 2}});
    groups.push_back({"freq_cis_imag", 1, {c.seqLen, headDim / 2}});
  } else {
    groups.push_back(attnNorm);
    groups.push_back(ffnNorm);
    groups.push_back(finalNorm);
    groups.push_back(embed);
    groups.insert(groups.end(), matrices.begin(), matrices.end());
    groups.insert(groups.end(), mlp.begin(), mlp.end());
  }
  if (!c.sharedClassifier)
    groups.push_back({"lm_head.weight", 1, {c.vocab, dim}});

  // Sizes first, against the file, before any view is made.
  int64_t total = 0;
  for (const Group &g : groups) {
    int64_t n = g.count;
    for (int64_t d : g.shape)
      n = mul(n, d);
    if (n < 0 || total > (int64_t{1} << 60) - n)
      return fileError(name, "the parameters describe an impossibly large "
                             "model");
    total += n;
  }
  int64_t expected = static_cast<int64_t>(headerSize) + total * 4;
  if (static_cast<int64_t>(bytes.size()) != expected)
    return fileError(name, "expected " + Twine(expected) +
                               " bytes for these parameters (dim " +
                               Twine(c.dim) + ", " + Twine(c.layers) +
                               " layers, vocab " + Twine(c.vocab) +
                               "), the file has " + Twine(bytes.size()));
  if (reinterpret_cast<uintptr_t>(bytes.data() + headerSize) % alignof(float) !=
      0)
    return fileError(name, "weights are not 4-byte aligned in memory");

  const float *cursor =
      reinterpret_cast<const float *>(bytes.data() + headerSize);
  for (const Group &g : groups) {
    int64_t n = 1;
    for (int64_t d : g.shape)
      n *= d;
    for (int64_t i = 0; i < g.count; ++i) {
      Llama2cWeight w;
      w.name = g.name;
      size_t brace = w.name.find("{}");
      if (brace != std::string::npos)
        w.name.replace(brace, 2, std::to_string(i));
      w.shape = g.shape;
      w.data = llvm::ArrayRef<float>(cursor, n);
      cursor += n;
      ckpt->weights.push_back(std::move(w));
    }
  }
  ckpt->buffer = std::move(buffer);
  return ckpt;
}

const Llama2cWeight *Llama2cCheckpoint::lookup(StringRef name) const {
  for (const Llama2cWeight &w : weights)
    if (w.name == name)
      return &w;
  return nullptr;
}
