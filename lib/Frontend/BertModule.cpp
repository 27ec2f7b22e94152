//===- BertModule.cpp - tok IR for a BERT-family encoder ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Every shape inside a block is taken from the block's own values (never
// from the input ids), so that token merging and pruning, which shrink the
// token dimension in the middle of a block, leave a well-formed function.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/BertModel.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::tok;

static std::string tensorType(llvm::ArrayRef<int64_t> shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + "f32>";
}

static const char *kParallel2 = "iterator_types = [\"parallel\", \"parallel\"]";

std::string mlir::tok::emitBertModule(const BertConfig &c,
                                      const BertModuleOptions &o) {
  std::string out;
  llvm::raw_string_ostream os(out);
  std::vector<BertWeight> weights = getBertWeights(c);
  int64_t e = c.dim, h = c.heads, d = c.getHeadDim(), f = c.hiddenDim;
  std::string rows = tensorType({-1, e});

  std::string weightArgs, weightTypes, weightNames;
  for (auto [i, w] : llvm::enumerate(weights)) {
    weightArgs += llvm::formatv(", %w{0}: {1} {{tok.weight = \"{2}\"}", i,
                                tensorType(w.shape), w.name);
    weightNames += llvm::formatv(", %w{0}", i);
    weightTypes += ", " + tensorType(w.shape);
  }
  auto W = [&](size_t i) { return "%w" + std::to_string(i); };
  auto T = [&](size_t i) { return tensorType(weights[i].shape); };

  os << "// bert: " << c.layers << " layers, dim " << e << ", " << h
     << " heads of " << d << ", hidden " << f << ", vocabulary " << c.vocab
     << ", " << c.maxPositions << " positions.\n";
  os << "func.func @encode(%ids: tensor<?xi32>" << weightArgs << ") -> " << rows
     << " {\n";
  os << "  %c0 = arith.constant 0 : index\n";
  os << "  %c1 = arith.constant 1 : index\n";
  os << "  %t = tensor.dim %ids, %c0 : tensor<?xi32>\n";
  // Embeddings: word + position (0..T-1) + token type 0, then LayerNorm.
  os << "  %pos_i = tensor.empty(%t) : tensor<?xi32>\n";
  os << "  %pos = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], "
        "iterator_types = [\"parallel\"]} outs(%pos_i : tensor<?xi32>) {\n"
        "  ^bb0(%unused: i32):\n"
        "    %i = linalg.index 0 : index\n"
        "    %i32 = arith.index_cast %i : index to i32\n"
        "    linalg.yield %i32 : i32\n"
        "  } -> tensor<?xi32>\n";
  os << "  %word = tok.embed " << W(0) << "[%ids] : " << T(0)
     << ", tensor<?xi32>\n";
  os << "  %posrow = tok.embed " << W(1) << "[%pos] : " << T(1)
     << ", tensor<?xi32>\n";
  os << llvm::formatv("  %type2 = tensor.extract_slice {0}[0, 0] [1, {1}] "
                      "[1, 1] : {2} to {3}\n",
                      W(2), e, T(2), tensorType({1, e}));
  os << llvm::formatv("  %type = tensor.collapse_shape %type2 [[0, 1]] : {0} "
                      "into {1}\n",
                      tensorType({1, e}), tensorType({e}));
  os << "  %emb_i = tensor.empty(%t) : " << rows << "\n";
  os << llvm::formatv(
      "  %emb = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, "
      "j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, "
      "affine_map<(i, j) -> (i, j)>], {0}} ins(%word, %posrow, %type : {1}, "
      "{1}, {2}) outs(%emb_i : {1}) {{\n"
      "  ^bb0(%a: f32, %b: f32, %c: f32, %unused: f32):\n"
      "    %ab = arith.addf %a, %b : f32\n"
      "    %abc = arith.addf %ab, %c : f32\n"
      "    linalg.yield %abc : f32\n"
      "  } -> {1}\n",
      kParallel2, rows, tensorType({e}));
  auto layerNorm = [&](const std::string &dst, const std::string &src,
                       size_t wIdx) {
    os << llvm::formatv("  %{0} = tok.layer_norm %{1}, {2}, {3} {{epsilon = "
                        "{4:e} : f32} : {5}, {6}, {6}\n",
                        dst, src, W(wIdx), W(wIdx + 1), c.normEps, rows,
                        tensorType({e}));
  };
  layerNorm("h0", "emb", 3);

  auto lin = [&](const std::string &dst, const std::string &src, int64_t inDim,
                 size_t wIdx) {
    os << llvm::formatv("  %{0} = tok.linear %{1}, {2}, {3} : {4}, {5}, {6}\n",
                        dst, src, W(wIdx), W(wIdx + 1), tensorType({-1, inDim}),
                        T(wIdx), T(wIdx + 1));
  };
  // [T, E] -> [H, T, D], with T read off the value itself.
  auto heads = [&](const std::string &dst, const std::string &src) {
    os << llvm::formatv("  %{0}_t = tensor.dim %{1}, %c0 : {2}\n", dst, src,
                        rows);
    os << llvm::formatv("  %{0}_e = tensor.expand_shape %{1} [[0], [1, 2]] "
                        "output_shape [%{0}_t, {2}, {3}] : {4} into {5}\n",
                        dst, src, h, d, rows, tensorType({-1, h, d}));
    os << llvm::formatv("  %{0}_i = tensor.empty(%{0}_t) : {1}\n", dst,
                        tensorType({h, -1, d}));
    os << llvm::formatv("  %{0} = linalg.transpose ins(%{0}_e : {1}) "
                        "outs(%{0}_i : {2}) permutation = [1, 0, 2]\n",
                        dst, tensorType({-1, h, d}), tensorType({h, -1, d}));
  };

  size_t wi = 5;
  for (int64_t l = 0; l < c.layers; ++l) {
    std::string L = "l" + std::to_string(l) + "_";
    std::string x = l == 0 ? "h0" : "l" + std::to_string(l - 1) + "_out";
    size_t wq = wi, wk = wi + 2, wv = wi + 4, wo = wi + 6, ln1 = wi + 8,
           wInter = wi + 10, wOut = wi + 12, ln2 = wi + 14;
    wi += 16;
    lin(L + "q0", x, e, wq);
    lin(L + "k0", x, e, wk);
    lin(L + "v0", x, e, wv);
    heads(L + "q", L + "q0");
    heads(L + "k", L + "k0");
    heads(L + "v", L + "v0");
    os << llvm::formatv("  %{0}a = tok.attention %{0}q, %{0}k, %{0}v {{mask = "
                        "#tok.mask<full>} : {1}, {1}, {1} -> {1}\n",
                        L, tensorType({h, -1, d}));
    os << llvm::formatv("  %{0}a_t = tensor.dim %{0}a, %c1 : {1}\n", L,
                        tensorType({h, -1, d}));
    os << llvm::formatv("  %{0}a_i = tensor.empty(%{0}a_t) : {1}\n", L,
                        tensorType({-1, h, d}));
    os << llvm::formatv("  %{0}a_p = linalg.transpose ins(%{0}a : {1}) "
                        "outs(%{0}a_i : {2}) permutation = [1, 0, 2]\n",
                        L, tensorType({h, -1, d}), tensorType({-1, h, d}));
    os << llvm::formatv("  %{0}a_r = tensor.collapse_shape %{0}a_p [[0], [1, "
                        "2]] : {1} into {2}\n",
                        L, tensorType({-1, h, d}), rows);
    lin(L + "o", L + "a_r", e, wo);
    os << llvm::formatv("  %{0}r = arith.addf %{1}, %{0}o : {2}\n", L, x, rows);
    layerNorm(L + "x", L + "r", ln1);
    lin(L + "i", L + "x", e, wInter);
    // GELU, erf form: x/2 * (1 + erf(x / sqrt 2)).
    os << llvm::formatv("  %{0}g_t = tensor.dim %{0}i, %c0 : {1}\n", L,
                        tensorType({-1, f}));
    os << llvm::formatv(
        "  %{0}g_i = tensor.empty(%{0}g_t) : {1}\n"
        "  %{0}g = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, "
        "j)>, affine_map<(i, j) -> (i, j)>], {2}} ins(%{0}i : {1}) "
        "outs(%{0}g_i : {1}) {{\n"
        "  ^bb0(%x: f32, %unused: f32):\n"
        "    %half = arith.constant 0.5 : f32\n"
        "    %one = arith.constant 1.0 : f32\n"
        "    %rsqrt2 = arith.constant 0.707106781 : f32\n"
        "    %xs = arith.mulf %x, %rsqrt2 : f32\n"
        "    %erf = math.erf %xs : f32\n"
        "    %p = arith.addf %one, %erf : f32\n"
        "    %hx = arith.mulf %x, %half : f32\n"
        "    %y = arith.mulf %hx, %p : f32\n"
        "    linalg.yield %y : f32\n"
        "  } -> {1}\n",
        L, tensorType({-1, f}), kParallel2);
    lin(L + "m", L + "g", f, wOut);
    os << llvm::formatv("  %{0}r2 = arith.addf %{0}x, %{0}m : {1}\n", L, rows);
    layerNorm(L + "out", L + "r2", ln2);
  }
  std::string last =
      c.layers ? "l" + std::to_string(c.layers - 1) + "_out" : "h0";
  os << "  return %" << last << " : " << rows << "\n}\n\n";

  // @embed: mean pooling (+ L2 normalization).
  os << "func.func @embed(%ids: tensor<?xi32>" << weightArgs << ") -> "
     << tensorType({e}) << " {\n";
  os << "  %c0 = arith.constant 0 : index\n";
  os << "  %hs = func.call @encode(%ids" << weightNames << ") : (tensor<?xi32>"
     << weightTypes << ") -> " << rows << "\n";
  os << "  %n = tensor.dim %hs, %c0 : " << rows << "\n";
  os << "  %n64 = arith.index_cast %n : index to i64\n";
  os << "  %nf = arith.sitofp %n64 : i64 to f32\n";
  os << "  %zero = arith.constant 0.0 : f32\n";
  os << "  %acc_i = tensor.empty() : " << tensorType({e}) << "\n";
  os << "  %acc0 = linalg.fill ins(%zero : f32) outs(%acc_i : "
     << tensorType({e}) << ") -> " << tensorType({e}) << "\n";
  os << llvm::formatv(
      "  %sum = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, "
      "j)>, affine_map<(i, j) -> (j)>], iterator_types = [\"reduction\", "
      "\"parallel\"]} ins(%hs : {0}) outs(%acc0 : {1}) {{\n"
      "  ^bb0(%x: f32, %a: f32):\n"
      "    %s = arith.addf %a, %x : f32\n"
      "    linalg.yield %s : f32\n"
      "  } -> {1}\n",
      rows, tensorType({e}));
  std::string vec = tensorType({e});
  os << llvm::formatv(
      "  %mean = linalg.generic {{indexing_maps = [affine_map<(j) -> (j)>, "
      "affine_map<(j) -> (j)>], iterator_types = [\"parallel\"]} ins(%sum : "
      "{0}) outs(%acc_i : {0}) {{\n"
      "  ^bb0(%s: f32, %unused: f32):\n"
      "    %m = arith.divf %s, %nf : f32\n"
      "    linalg.yield %m : f32\n"
      "  } -> {0}\n",
      vec);
  if (!o.normalize) {
    os << "  return %mean : " << vec << "\n}\n";
    return out;
  }
  // x / max(|x|, 1e-12), as torch.nn.functional.normalize.
  os << "  %sq0_i = tensor.empty() : tensor<f32>\n";
  os << "  %sq0 = linalg.fill ins(%zero : f32) outs(%sq0_i : tensor<f32>) -> "
        "tensor<f32>\n";
  os << llvm::formatv(
      "  %sq = linalg.generic {{indexing_maps = [affine_map<(j) -> (j)>, "
      "affine_map<(j) -> ()>], iterator_types = [\"reduction\"]} ins(%mean : "
      "{0}) outs(%sq0 : tensor<f32>) {{\n"
      "  ^bb0(%x: f32, %a: f32):\n"
      "    %xx = arith.mulf %x, %x : f32\n"
      "    %s = arith.addf %a, %xx : f32\n"
      "    linalg.yield %s : f32\n"
      "  } -> tensor<f32>\n",
      vec);
  os << "  %sqv = tensor.extract %sq[] : tensor<f32>\n";
  os << "  %norm0 = math.sqrt %sqv : f32\n";
  os << "  %tiny = arith.constant 1.0e-12 : f32\n";
  os << "  %norm = arith.maximumf %norm0, %tiny : f32\n";
  os << llvm::formatv(
      "  %unit = linalg.generic {{indexing_maps = [affine_map<(j) -> (j)>, "
      "affine_map<(j) -> (j)>], iterator_types = [\"parallel\"]} ins(%mean : "
      "{0}) outs(%acc_i : {0}) {{\n"
      "  ^bb0(%x: f32, %unused: f32):\n"
      "    %u = arith.divf %x, %norm : f32\n"
      "    linalg.yield %u : f32\n"
      "  } -> {0}\n",
      vec);
  os << "  return %unit : " << vec << "\n}\n";
  return out;
}
