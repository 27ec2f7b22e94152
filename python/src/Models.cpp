//===- Models.cpp - tok.Model: decoders and encoders ----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A Decoder is an opened LlamaModel (any format tok reads) with the options
// fixed at open (pass pipeline, cache capacity, draft) and the Generators
// compiled for it so far, one per prompt length and sampling settings (the
// sampler and the lengths are compiled into @generate; the JIT cache makes
// a recompile of a seen module a matter of milliseconds). generate() is
// Generator::generate; a Stream runs Generator::generateWhile on a thread
// of its own and hands the tokens over through a queue, so that Python
// pulls them one at a time; closing it (or dropping it) stops the compiled
// loop at the next token (stopGuardedRun) and joins the thread. An Encoder
// is an opened BertModel and its Encoder. Nothing here holds the GIL while
// compiling or running.
//
//===----------------------------------------------------------------------===//

#include "Models.h"

#include "Common.h"

#include "tok/Driver/Encoder.h"
#include "tok/Driver/Generator.h"
#include "tok/Frontend/BertModel.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Frontend/Tokenizer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>

namespace nb = nanobind;
using namespace mlir;
using namespace tokpy;

namespace {

nb::dict costDict(const tok::FunctionCost &cost) {
  nb::dict d;
  d["flops"] = cost.flops;
  d["bytes"] = cost.bytes;
  d["kv_bytes"] = cost.kvBytes;
  d["attention_flops"] = cost.attentionFlops;
  return d;
}

/// Collects the diagnostics of a compile (a pass that fails says why
/// there), for the message of the error that follows.
class CollectDiagnostics {
public:
  explicit CollectDiagnostics(MLIRContext &context)
      : handler(&context, [this](Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          os << diag.getLocation() << ": ";
          switch (diag.getSeverity()) {
          case DiagnosticSeverity::Error:
            os << "error: ";
            break;
          case DiagnosticSeverity::Warning:
            os << "warning: ";
            break;
          default:
            os << "note: ";
            break;
          }
          os << diag << "\n";
          return success();
        }) {}

  /// Returns the value of `expected`, or throws its error with the
  /// diagnostics.
  template <typename T> T take(llvm::Expected<T> expected) {
    if (expected)
      return std::move(*expected);
    std::string message = llvm::toString(expected.takeError());
    if (!text.empty())
      message += ":\n" + llvm::StringRef(text).rtrim().str();
    tokpy::fail(ErrorKind::Compile, message);
  }

private:
  std::string text;
  ScopedDiagnosticHandler handler;
};

/// What a generation asks for beyond the open-time options.
struct Request {
  std::vector<int32_t> prompt;
  int64_t maxNewTokens = 64;
  double temperature = 0, topP = 1;
  int64_t topK = 0, seed = 0;
  /// -2: the model's end-of-sequence tokens; otherwise these.
  bool defaultEos = true;
  std::vector<int64_t> eos;
};

/// Everything a Decoder owns; shared with its streams, which may outlive
/// the Python object.
struct DecoderState {
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<tok::LlamaModel> model, draft;
  std::string pipeline;
  int64_t cacheCapacity = 0, prefillChunk = 0, positions = 0;
  std::vector<int64_t> draftSkip;
  unsigned optLevel = 3;

  /// Compiled generators, most recently used first.
  std::mutex mutex;
  std::list<std::pair<std::string, std::shared_ptr<tok::Generator>>> compiled;
  std::shared_ptr<tok::Generator> last;
  static constexpr size_t kKeep = 8;

  const tok::LlamaConfig &config() const { return model->getConfig(); }

  /// Checks `request` (as tok-run generate does), caps its new tokens at
  /// the positions left, and returns the generator compiled for it.
  std::shared_ptr<tok::Generator> generatorFor(Request &request) {
    const tok::LlamaConfig &c = config();
    if (request.prompt.empty())
      fail(ErrorKind::Argument, "the prompt is empty");
    for (int32_t id : request.prompt)
      if (id < 0 || id >= c.vocab)
        fail(ErrorKind::Argument, "token id " + std::to_string(id) +
                                      " is outside the vocabulary of " +
                                      std::to_string(c.vocab));
    if (request.maxNewTokens <= 0)
      fail(ErrorKind::Argument, "max_new_tokens must be positive, got " +
                                    std::to_string(request.maxNewTokens));
    if (!(request.temperature >= 0))
      fail(ErrorKind::Argument, "temperature must be non-negative");
    if (request.topK < 0)
      fail(ErrorKind::Argument, "top_k must be non-negative");
    if (!(request.topP > 0 && request.topP <= 1))
      fail(ErrorKind::Argument, "top_p must be in (0, 1]");
    int64_t promptLen = static_cast<int64_t>(request.prompt.size());
    int64_t limit = positions ? positions : c.maxPositions;
    if (promptLen >= limit)
      fail(ErrorKind::Argument,
           "the prompt has " + std::to_string(promptLen) +
               " tokens; the model has " + std::to_string(limit) +
               " positions, so at most " + std::to_string(limit - 1) +
               " fit before a new one");
    request.maxNewTokens = std::min(request.maxNewTokens, limit - promptLen);
    if (draft &&
        draft->getConfig().maxPositions < promptLen + request.maxNewTokens &&
        !positions)
      fail(ErrorKind::Argument,
           "the draft model has " +
               std::to_string(draft->getConfig().maxPositions) +
               " positions, fewer than the prompt and the new tokens");
    std::vector<int64_t> eos =
        request.defaultEos ? tok::chooseEos(-2, c) : request.eos;
    for (int64_t id : eos)
      if (id < 0 || id >= c.vocab)
        fail(ErrorKind::Argument,
             "end-of-sequence token " + std::to_string(id) +
                 " is outside the vocabulary of " + std::to_string(c.vocab));
    std::string key;
    llvm::raw_string_ostream os(key);
    os << promptLen << " " << request.maxNewTokens << " "
       << llvm::format("%a %a", request.temperature, request.topP) << " "
       << request.topK << " " << request.seed << " eos";
    for (int64_t id : eos)
      os << " " << id;

    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = compiled.begin(); it != compiled.end(); ++it)
      if (it->first == key) {
        compiled.splice(compiled.begin(), compiled, it);
        last = compiled.front().second;
        return last;
      }
    tok::GenerateSettings settings;
    settings.maxNewTokens = request.maxNewTokens;
    settings.sampler = {request.temperature, request.topK, request.topP,
                        request.seed};
    settings.eos = eos;
    settings.prefillChunk = prefillChunk;
    settings.cacheCapacity = cacheCapacity;
    settings.draftSkip = draftSkip;
    settings.draftModel = draft.get();
    settings.pipeline = pipeline;
    settings.optLevel = optLevel;
    CollectDiagnostics diagnostics(*context);
    std::shared_ptr<tok::Generator> generator = diagnostics.take(
        tok::Generator::create(*context, *model, settings, promptLen));
    compiled.emplace_front(key, generator);
    if (compiled.size() > kKeep)
      compiled.pop_back();
    last = generator;
    return generator;
  }
};

nb::dict resultDict(const tok::GenerateResult &result,
                    const tok::Generator &generator, int64_t promptLen,
                    int64_t maxNewTokens) {
  const tok::GeneratorReport &report = generator.getReport();
  nb::dict d;
  d["tokens"] = result.tokens;
  d["prompt_tokens"] = promptLen;
  d["max_new_tokens"] = maxNewTokens;
  d["prefill_seconds"] = result.prefillSeconds;
  d["decode_seconds"] = result.decodeSeconds;
  d["total_seconds"] = result.totalSeconds;
  d["rounds"] = result.rounds;
  d["drafted"] = result.drafted;
  d["accepted"] = result.accepted;
  d["stopped"] = result.stopped;
  d["kv_bytes"] = report.kvBytes;
  d["min_slots"] = report.minSlots;
  d["max_slots"] = report.maxSlots;
  return d;
}

/// A generation running on its own thread, its tokens pulled one by one.
class Stream {
public:
  Stream(std::shared_ptr<DecoderState> state, Request request)
      : state(std::move(state)), request(std::move(request)) {
    generator = this->state->generatorFor(this->request);
    worker = std::thread([this] { work(); });
  }
  ~Stream() { close(); }

  /// The next token, or none at the end; raises the generation's error.
  std::optional<int32_t> next() {
    std::optional<int32_t> token;
    std::string failure;
    {
      // The lock is only ever taken without the GIL held by anyone who
      // then waits for the GIL.
      nb::gil_scoped_release release;
      std::unique_lock<std::mutex> lock(mutex);
      ready.wait(lock, [&] { return !queue.empty() || finished; });
      if (!queue.empty()) {
        token = queue.front();
        queue.pop_front();
      } else {
        failure = error;
      }
    }
    if (!failure.empty())
      fail(failure.rfind("run-time check failed", 0) == 0
               ? ErrorKind::RuntimeCheck
               : ErrorKind::Generic,
           failure);
    return token;
  }

  /// Stops the generation at its next token (if it still runs) and waits
  /// for its thread; the tokens already queued stay readable.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      cancelled = true;
    }
    if (worker.joinable()) {
      if (PyGILState_Check()) {
        nb::gil_scoped_release release;
        worker.join();
      } else {
        worker.join();
      }
    }
  }

  /// The statistics, once the generation ended (else none).
  std::optional<nb::dict> result() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!finished || !outcome)
      return std::nullopt;
    return resultDict(*outcome, *generator,
                      static_cast<int64_t>(request.prompt.size()),
                      request.maxNewTokens);
  }

private:
  void work() {
    auto r = generator->generateWhile(request.prompt,
                                      [this](int32_t token, int64_t) {
                                        std::lock_guard<std::mutex> lock(mutex);
                                        if (cancelled)
                                          return false;
                                        queue.push_back(token);
                                        ready.notify_all();
                                        return true;
                                      });
    std::lock_guard<std::mutex> lock(mutex);
    if (r)
      outcome = std::move(*r);
    else
      error = llvm::toString(r.takeError());
    finished = true;
    ready.notify_all();
  }

  std::shared_ptr<DecoderState> state;
  Request request;
  std::shared_ptr<tok::Generator> generator;
  std::thread worker;
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<int32_t> queue;
  bool cancelled = false, finished = false;
  std::optional<tok::GenerateResult> outcome;
  std::string error;
};

class Decoder {
public:
  static std::unique_ptr<Decoder>
  open(const std::string &path, const std::string &tokenizer,
       const std::string &pipeline, int64_t cacheCapacity, int64_t prefillChunk,
       const std::string &draftModel, std::vector<int64_t> draftSkip,
       unsigned optLevel, int64_t positions, bool requireTokenizer) {
    if (cacheCapacity < 0 || prefillChunk < 0 || positions < 0)
      fail(ErrorKind::Argument, "cache_capacity, prefill_chunk and positions "
                                "must not be negative");
    if (optLevel > 3)
      fail(ErrorKind::Argument, "opt_level must be 0 to 3");
    if (llvm::StringRef(pipeline).trim().starts_with("builtin.module("))
      fail(ErrorKind::Argument, "give the pipeline without the "
                                "builtin.module(...) anchor; it runs on the "
                                "model's module");
    auto state = std::make_shared<DecoderState>();
    state->model =
        take(ErrorKind::Model,
             tok::LlamaModel::open(
                 path, tokenizer,
                 requireTokenizer ? tok::LlamaModel::TokenizerPolicy::Require
                                  : tok::LlamaModel::TokenizerPolicy::IfFound));
    if (!draftModel.empty()) {
      if (!draftSkip.empty())
        fail(ErrorKind::Argument, "draft_model and draft_skip are exclusive: "
                                  "one draft at a time");
      state->draft =
          take(ErrorKind::Model,
               tok::LlamaModel::open(draftModel, "",
                                     tok::LlamaModel::TokenizerPolicy::Skip));
      if (std::string problem =
              tok::checkDraftModel(state->config(), state->draft->getConfig());
          !problem.empty())
        fail(ErrorKind::Argument, "draft_model: " + problem);
    }
    if (std::string problem = tok::checkDraftSkip(state->config(), draftSkip);
        !problem.empty())
      fail(ErrorKind::Argument, "draft_skip: " + problem);
    state->context = makeContext();
    // A pipeline that does not parse is refused now, not at the first
    // generation.
    if (!llvm::StringRef(pipeline).trim().empty()) {
      PassManager pm(state->context.get());
      std::string error;
      llvm::raw_string_ostream os(error);
      if (failed(parsePassPipeline(pipeline, pm, os)))
        fail(ErrorKind::Compile,
             "cannot parse the pipeline '" + pipeline +
                 "': " + llvm::StringRef(error).trim().str());
    }
    state->pipeline = pipeline;
    state->cacheCapacity = cacheCapacity;
    state->prefillChunk = prefillChunk;
    state->positions = positions;
    state->draftSkip = std::move(draftSkip);
    state->optLevel = optLevel;
    auto decoder = std::make_unique<Decoder>();
    decoder->state = std::move(state);
    return decoder;
  }

  nb::dict generate(Request request) {
    std::shared_ptr<tok::Generator> generator;
    std::optional<tok::GenerateResult> result;
    std::string error;
    {
      nb::gil_scoped_release release;
      generator = state->generatorFor(request);
      auto r = generator->generate(request.prompt);
      if (r)
        result = std::move(*r);
      else
        error = llvm::toString(r.takeError());
    }
    if (!result)
      fail(error.rfind("run-time check failed", 0) == 0
               ? ErrorKind::RuntimeCheck
               : ErrorKind::Generic,
           error);
    return resultDict(*result, *generator,
                      static_cast<int64_t>(request.prompt.size()),
                      request.maxNewTokens);
  }

  /// Compiles for `request` without generating (the cost report's
  /// generator).
  void prepare(Request request) {
    nb::gil_scoped_release release;
    state->generatorFor(request);
  }

  std::unique_ptr<Stream> stream(Request request) {
    nb::gil_scoped_release release;
    return std::make_unique<Stream>(state, std::move(request));
  }

  std::vector<int32_t> encode(const std::string &text, bool special) const {
    const tok::Tokenizer &t = tokenizer();
    return take(ErrorKind::Argument,
                special ? t.encodePrompt(text) : t.encode(text));
  }

  nb::bytes decode(const std::vector<int32_t> &ids) const {
    std::string text = take(ErrorKind::Argument, tokenizer().decode(ids));
    return nb::bytes(text.data(), text.size());
  }

  std::optional<nb::dict> report() {
    std::shared_ptr<tok::Generator> g;
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      g = state->last;
    }
    if (!g)
      return std::nullopt;
    const tok::GeneratorReport &r = g->getReport();
    nb::dict d;
    d["as_imported"] = costDict(r.asImported);
    nb::list passes;
    for (auto &[pass, cost] : r.afterEachPass)
      passes.append(nb::make_tuple(pass, costDict(cost)));
    d["after_each_pass"] = passes;
    d["kv_bytes"] = r.kvBytes;
    d["min_slots"] = r.minSlots;
    d["max_slots"] = r.maxSlots;
    d["quantized_bytes"] = r.quantizedBytes;
    d["layers"] = r.layers;
    d["build_seconds"] = r.buildSeconds;
    d["pass_seconds"] = r.passSeconds;
    d["compile_seconds"] = r.compileSeconds;
    d["lower_seconds"] = r.jit.lowerSeconds;
    d["codegen_seconds"] = r.jit.codegenSeconds;
    d["from_jit_cache"] = r.jit.cached;
    d["max_prompt_tokens"] = g->getMaxPromptTokens();
    return d;
  }

  nb::dict info() const {
    const tok::LlamaConfig &c = state->config();
    nb::dict d;
    d["kind"] = "decoder";
    d["name"] = state->model->getName().str();
    d["vocab_size"] = c.vocab;
    d["dim"] = c.dim;
    d["hidden_dim"] = c.hiddenDim;
    d["layers"] = c.layers;
    d["heads"] = c.heads;
    d["kv_heads"] = c.kvHeads;
    d["max_positions"] = state->positions ? state->positions : c.maxPositions;
    d["eos"] = tok::chooseEos(-2, c);
    d["has_tokenizer"] = state->model->hasTokenizer();
    d["mapped_bytes"] = state->model->getMappedBytes();
    d["owned_bytes"] = state->model->getOwnedBytes();
    return d;
  }

private:
  const tok::Tokenizer &tokenizer() const {
    if (!state->model->hasTokenizer())
      fail(ErrorKind::Argument,
           state->model->getName().str() +
               " was opened without a tokenizer; give token ids");
    return state->model->getTokenizer();
  }

  std::shared_ptr<DecoderState> state;
};

class Encoder {
public:
  static std::unique_ptr<Encoder> open(const std::string &path,
                                       const std::string &tokenizer,
                                       const std::string &pipeline,
                                       bool normalize) {
    auto e = std::make_unique<Encoder>();
    e->model =
        take(ErrorKind::Model, tok::BertModel::open(path, tokenizer, true));
    e->context = makeContext();
    tok::EmbedSettings settings;
    settings.normalize = normalize;
    settings.pipeline = pipeline;
    CollectDiagnostics diagnostics(*e->context);
    e->encoder = diagnostics.take(
        tok::Encoder::create(*e->context, *e->model, settings));
    return e;
  }

  std::vector<int32_t> encode(const std::string &text) const {
    return take(ErrorKind::Argument, model->getTokenizer().encode(text));
  }

  nb::ndarray<nb::numpy, float, nb::ndim<2>>
  embed(const std::vector<std::vector<int32_t>> &inputs) {
    const tok::BertConfig &c = model->getConfig();
    for (auto [i, row] : llvm::enumerate(inputs)) {
      if (row.empty())
        fail(ErrorKind::Argument,
             "input #" + std::to_string(i) + " has no tokens");
      if (static_cast<int64_t>(row.size()) > c.maxPositions)
        fail(ErrorKind::Argument,
             "input #" + std::to_string(i) + " has " +
                 std::to_string(row.size()) + " tokens; the model has " +
                 std::to_string(c.maxPositions) + " positions");
      for (int32_t id : row)
        if (id < 0 || id >= c.vocab)
          fail(ErrorKind::Argument, "token id " + std::to_string(id) +
                                        " is outside the vocabulary of " +
                                        std::to_string(c.vocab));
    }
    size_t n = inputs.size(), dim = static_cast<size_t>(c.dim);
    auto *out = new float[std::max<size_t>(n * dim, 1)];
    nb::capsule owner(
        out, [](void *p) noexcept { delete[] static_cast<float *>(p); });
    std::string error;
    {
      nb::gil_scoped_release release;
      for (size_t i = 0; i < n && error.empty(); ++i) {
        auto v = encoder->embed(inputs[i]);
        if (!v) {
          error = llvm::toString(v.takeError());
          break;
        }
        std::copy(v->begin(), v->end(), out + i * dim);
      }
    }
    if (!error.empty())
      fail(error.rfind("run-time check failed", 0) == 0
               ? ErrorKind::RuntimeCheck
               : ErrorKind::Generic,
           error);
    size_t shape[2] = {n, dim};
    return nb::ndarray<nb::numpy, float, nb::ndim<2>>(out, 2, shape, owner);
  }

  nb::dict report() const {
    const tok::EncoderReport &r = encoder->getReport();
    nb::dict d;
    d["as_imported"] = costDict(r.asImported);
    d["compile_seconds"] = r.compileSeconds;
    d["lower_seconds"] = r.jit.lowerSeconds;
    d["codegen_seconds"] = r.jit.codegenSeconds;
    d["from_jit_cache"] = r.jit.cached;
    return d;
  }

  nb::dict info() const {
    const tok::BertConfig &c = model->getConfig();
    nb::dict d;
    d["kind"] = "encoder";
    d["vocab_size"] = c.vocab;
    d["dim"] = c.dim;
    d["layers"] = c.layers;
    d["heads"] = c.heads;
    d["max_positions"] = c.maxPositions;
    return d;
  }

private:
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<tok::BertModel> model;
  std::unique_ptr<tok::Encoder> encoder;
};

Request makeRequest(std::vector<int32_t> prompt, int64_t maxNewTokens,
                    double temperature, int64_t topK, double topP, int64_t seed,
                    std::optional<std::vector<int64_t>> eos) {
  Request r;
  r.prompt = std::move(prompt);
  r.maxNewTokens = maxNewTokens;
  r.temperature = temperature;
  r.topK = topK;
  r.topP = topP;
  r.seed = seed;
  r.defaultEos = !eos.has_value();
  if (eos)
    r.eos = *eos;
  return r;
}

} // namespace

void tokpy::bindModels(nb::module_ &m) {
  nb::class_<Stream>(m, "Stream")
      .def("next", &Stream::next,
           "The next token id, or None at the end of the generation.")
      .def("close", &Stream::close,
           "Stops the generation at its next token and waits for it.")
      .def("result", &Stream::result,
           "The generation's statistics once it has ended, else None.");

  nb::class_<Decoder>(m, "Decoder")
      .def_static(
          "open",
          [](const std::string &path, const std::string &tokenizer,
             const std::string &pipeline, int64_t cacheCapacity,
             int64_t prefillChunk, const std::string &draftModel,
             std::vector<int64_t> draftSkip, unsigned optLevel,
             int64_t positions, bool requireTokenizer) {
            nb::gil_scoped_release release;
            return Decoder::open(path, tokenizer, pipeline, cacheCapacity,
                                 prefillChunk, draftModel, std::move(draftSkip),
                                 optLevel, positions, requireTokenizer);
          },
          nb::arg("path"), nb::arg("tokenizer") = "", nb::arg("pipeline") = "",
          nb::arg("cache_capacity") = 0, nb::arg("prefill_chunk") = 0,
          nb::arg("draft_model") = "",
          nb::arg("draft_skip") = std::vector<int64_t>(),
          nb::arg("opt_level") = 3, nb::arg("positions") = 0,
          nb::arg("require_tokenizer") = false)
      .def(
          "generate",
          [](Decoder &d, std::vector<int32_t> prompt, int64_t maxNewTokens,
             double temperature, int64_t topK, double topP, int64_t seed,
             std::optional<std::vector<int64_t>> eos) {
            return d.generate(makeRequest(std::move(prompt), maxNewTokens,
                                          temperature, topK, topP, seed,
                                          std::move(eos)));
          },
          nb::arg("prompt"), nb::arg("max_new_tokens"), nb::arg("temperature"),
          nb::arg("top_k"), nb::arg("top_p"), nb::arg("seed"),
          nb::arg("eos").none())
      .def(
          "stream",
          [](Decoder &d, std::vector<int32_t> prompt, int64_t maxNewTokens,
             double temperature, int64_t topK, double topP, int64_t seed,
             std::optional<std::vector<int64_t>> eos) {
            return d.stream(makeRequest(std::move(prompt), maxNewTokens,
                                        temperature, topK, topP, seed,
                                        std::move(eos)));
          },
          nb::arg("prompt"), nb::arg("max_new_tokens"), nb::arg("temperature"),
          nb::arg("top_k"), nb::arg("top_p"), nb::arg("seed"),
          nb::arg("eos").none())
      .def(
          "prepare",
          [](Decoder &d, int64_t promptTokens, int64_t maxNewTokens) {
            d.prepare(makeRequest(
                std::vector<int32_t>(std::max<int64_t>(promptTokens, 0), 0),
                maxNewTokens, 0, 0, 1, 0, std::nullopt));
          },
          nb::arg("prompt_tokens"), nb::arg("max_new_tokens"))
      .def("encode", &Decoder::encode, nb::arg("text"),
           nb::arg("special") = true)
      .def("decode", &Decoder::decode, nb::arg("ids"))
      .def("report", &Decoder::report)
      .def("info", &Decoder::info);

  nb::class_<Encoder>(m, "Encoder")
      .def_static(
          "open",
          [](const std::string &path, const std::string &tokenizer,
             const std::string &pipeline, bool normalize) {
            nb::gil_scoped_release release;
            return Encoder::open(path, tokenizer, pipeline, normalize);
          },
          nb::arg("path"), nb::arg("tokenizer") = "", nb::arg("pipeline") = "",
          nb::arg("normalize") = true)
      .def("encode", &Encoder::encode, nb::arg("text"))
      .def("embed", &Encoder::embed, nb::arg("inputs"))
      .def("report", &Encoder::report)
      .def("info", &Encoder::info);

  m.def("is_encoder_path",
        [](const std::string &path) { return tok::isBertModelPath(path); });
}
