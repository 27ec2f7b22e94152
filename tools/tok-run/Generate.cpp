//===- Generate.cpp - tok-run generate: text from a model -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Opens a model (the built-in one, a llama2.c checkpoint or a Hugging Face
// directory), turns the prompt into ids and hands both to the driver
// library's Generator (tok/Driver/Generator.h), which builds the module,
// applies --pipeline, compiles it and runs @generate with the weights bound
// in place. Text streams to stdout as tokens are chosen; timings, KV-cache
// bytes and what the pipeline changed go to stderr.
//
//===----------------------------------------------------------------------===//

#include "Generate.h"
#include "GenerateBatch.h"

#include "tok/Driver/Generator.h"
#include "tok/Frontend/ChatPrompt.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Transforms/CostModel.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <string>

using namespace mlir;
namespace cl = llvm::cl;

cl::SubCommand &tokrun::getGenerateCommand() {
  static cl::SubCommand command(
      "generate",
      "Generate text with a model: the built-in one, a llama2.c "
      "checkpoint or a Hugging Face directory (Llama, Mistral, Qwen2 / 3, "
      "Gemma 2 / 3, Phi-3)");
  return command;
}

cl::OptionCategory &tokrun::getGenerateCategory() {
  static cl::OptionCategory category("tok-run generate options");
  return category;
}

namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

cl::opt<std::string>
    modelPath("model",
              cl::desc("'builtin' (a seeded 6-layer Llama, byte vocabulary), a "
                       "GGUF file, a llama2.c .bin, or a Hugging Face "
                       "directory"),
              cl::value_desc("path|builtin"), cl::init("builtin"),
              cl::sub(tokrun::getGenerateCommand()),
              cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("tokenizer.json or llama2.c tokenizer.bin (default: the "
             "model's own, or bytes for a 256-token vocabulary)"),
    cl::value_desc("path"), cl::init(""), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string> promptText("prompt",
                                cl::desc("Text to continue (default: 'def "
                                         "fibonacci(n):')"),
                                cl::value_desc("text"),
                                cl::init("def fibonacci(n):"),
                                cl::sub(tokrun::getGenerateCommand()),
                                cl::cat(tokrun::getGenerateCategory()));

cl::list<int64_t>
    promptIds("ids", cl::desc("Token ids to continue instead of --prompt"),
              cl::value_desc("id,id,..."), cl::CommaSeparated,
              cl::sub(tokrun::getGenerateCommand()),
              cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string> promptFile("prompt-file",
                                cl::desc("Read the text to continue from a "
                                         "file"),
                                cl::value_desc("path"), cl::init(""),
                                cl::sub(tokrun::getGenerateCommand()),
                                cl::cat(tokrun::getGenerateCategory()));

cl::opt<bool> chatPrompt(
    "chat",
    cl::desc("The prompt is a user message: render it with the model's chat "
             "template (tokenizer_config.json, chat_template.jinja or GGUF "
             "metadata) and the assistant's turn after it"),
    cl::init(false), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string> systemText("system",
                                cl::desc("With --chat: a system message "
                                         "before the prompt"),
                                cl::value_desc("text"), cl::init(""),
                                cl::sub(tokrun::getGenerateCommand()),
                                cl::cat(tokrun::getGenerateCategory()));

cl::opt<bool> printPrompt(
    "print-prompt",
    cl::desc("Print the prompt's text (with --chat, the rendered template) "
             "and its token ids, then stop without generating"),
    cl::init(false), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> maxNewTokens("max-new-tokens",
                              cl::desc("Tokens to generate (fewer if the "
                                       "end-of-sequence token comes first)"),
                              cl::init(64),
                              cl::sub(tokrun::getGenerateCommand()),
                              cl::cat(tokrun::getGenerateCategory()));

cl::opt<double> temperature("temperature",
                            cl::desc("Sampling temperature; 0 is greedy "
                                     "(the default)"),
                            cl::init(0.0),
                            cl::sub(tokrun::getGenerateCommand()),
                            cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> topK("top-k",
                      cl::desc("Sample among the k most likely tokens (0: "
                               "all)"),
                      cl::init(0), cl::sub(tokrun::getGenerateCommand()),
                      cl::cat(tokrun::getGenerateCategory()));

cl::opt<double> topP("top-p",
                     cl::desc("Sample from the smallest set of tokens with "
                              "this much probability (1: all)"),
                     cl::init(1.0), cl::sub(tokrun::getGenerateCommand()),
                     cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> sampleSeed("seed", cl::desc("Seed of stochastic sampling"),
                            cl::init(0), cl::sub(tokrun::getGenerateCommand()),
                            cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t>
    eosToken("eos",
             cl::desc("End-of-sequence token id (default: the model's, one or "
                      "several: any stops; -1: none)"),
             cl::init(-2), cl::sub(tokrun::getGenerateCommand()),
             cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string>
    passPipeline("pipeline",
                 cl::desc("tok passes applied to the model before lowering, in "
                          "--pass-pipeline syntax without the anchor, e.g. "
                          "'tok-kv-evict{policy=window budget=36 sinks=4 "
                          "recent=32}'"),
                 cl::value_desc("passes"), cl::init(""),
                 cl::sub(tokrun::getGenerateCommand()),
                 cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t>
    cacheCapacity("cache-capacity",
                  cl::desc("KV-cache slots per layer (default: prompt + "
                           "--max-new-tokens)"),
                  cl::init(0), cl::sub(tokrun::getGenerateCommand()),
                  cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t>
    maxPositions("positions",
                 cl::desc("Positions the model may use (default: the "
                          "model's max_position_embeddings). RoPE "
                          "extrapolates past the trained length, but the "
                          "model's predictions degrade there: for speed and "
                          "memory measurements at long contexts"),
                 cl::init(0), cl::sub(tokrun::getGenerateCommand()),
                 cl::cat(tokrun::getGenerateCategory()));

cl::list<int64_t>
    draftSkip("draft-skip",
              cl::desc("Also build @draft_step, the model without these layers "
                       "(comma separated), for --pipeline "
                       "\"tok-speculative-decoding{drafter=layer_skip}\" "
                       "(self-speculation)"),
              cl::CommaSeparated, cl::sub(tokrun::getGenerateCommand()),
              cl::cat(tokrun::getGenerateCategory()));

cl::opt<std::string> draftModelPath(
    "draft-model",
    cl::desc("Also build @draft_step from this separate draft model "
             "(builtin, a llama2.c .bin or a Hugging Face directory with the "
             "model's vocabulary), for --pipeline "
             "\"tok-speculative-decoding{drafter=model}\""),
    cl::value_desc("model"), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> prefillChunk(
    "prefill-chunk",
    cl::desc("Run the prompt through the model this many tokens at a time "
             "(chunked prefill; 0: all at once)"),
    cl::init(0), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<bool> printIds("print-ids",
                       cl::desc("After the text, print the generated token "
                                "ids on one line"),
                       cl::init(false), cl::sub(tokrun::getGenerateCommand()),
                       cl::cat(tokrun::getGenerateCategory()));

cl::opt<bool> quiet("quiet",
                    cl::desc("Print only the text: no progress or "
                             "statistics on stderr"),
                    cl::init(false), cl::sub(tokrun::getGenerateCommand()),
                    cl::cat(tokrun::getGenerateCategory()));

cl::opt<unsigned> repeatRuns(
    "repeat",
    cl::desc("Generate this many times with the compiled model (the text is "
             "printed once; every run must produce the same tokens) and "
             "report the median prefill and decode times, with the range"),
    cl::init(1), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<unsigned> genOptLevel("O", cl::desc("LLVM optimization level (0-3)"),
                              cl::init(3), cl::Prefix,
                              cl::sub(tokrun::getGenerateCommand()),
                              cl::cat(tokrun::getGenerateCategory()));

/// Writes decoded bytes to stdout as they come: whole UTF-8 characters
/// only, control and invalid bytes escaped as \xNN.
class TextStream {
public:
  void write(llvm::StringRef bytes, bool final = false) {
    pending += bytes;
    std::string out;
    size_t i = 0;
    auto escape = [&](unsigned char c) {
      out += llvm::formatv("\\x{0:x-2}", static_cast<unsigned>(c)).str();
    };
    while (i < pending.size()) {
      auto c = static_cast<unsigned char>(pending[i]);
      if (c < 0x80) {
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
          escape(c);
        else
          out += static_cast<char>(c);
        ++i;
        continue;
      }
      size_t len = c >= 0xf5   ? 0
                   : c >= 0xf0 ? 4
                   : c >= 0xe0 ? 3
                   : c >= 0xc2 ? 2
                               : 0;
      size_t have = std::min(len, pending.size() - i);
      bool continuations = len != 0;
      for (size_t k = 1; k < have; ++k)
        continuations &=
            (static_cast<unsigned char>(pending[i + k]) & 0xc0) == 0x80;
      if (continuations && have < len && !final)
        break; // wait for the rest of the character
      if (!continuations || have < len) {
        escape(c);
        ++i;
        continue;
      }
      out.append(pending, i, len);
      i += len;
    }
    pending.erase(0, i);
    llvm::outs() << out;
    llvm::outs().flush();
  }

private:
  std::string pending;
};

/// What the streaming callback needs; one generation runs at a time.
struct StreamState {
  const tok::Tokenizer *tokenizer = nullptr;
  TextStream text;
  /// The ids decoded so far (prompt, then generated) and the bytes of text
  /// already written: each token is decoded in context and only the new
  /// bytes are written, so that SentencePiece pieces keep their leading
  /// space (a piece decoded alone would lose it).
  std::vector<int32_t> context;
  size_t written = 0;
  /// Runs after the first of --repeat only record their tokens and times.
  bool silent = false;

  /// Writes the text of a new token.
  void show(int32_t token) {
    if (silent)
      return;
    if (tokenizer) {
      context.push_back(token);
      llvm::Expected<std::string> decoded = tokenizer->decode(context);
      if (decoded && decoded->size() >= written) {
        text.write(StringRef(*decoded).drop_front(written));
        written = decoded->size();
        return;
      }
      if (!decoded)
        llvm::consumeError(decoded.takeError());
      // Not decodable (an id beyond the tokenizer's vocabulary): show the
      // id and start a new context after it.
      context.clear();
      written = 0;
    }
    text.write(("<" + llvm::Twine(token) + ">").str());
  }
};

int fail(const llvm::Twine &message) {
  llvm::outs().flush();
  llvm::errs() << "tok-run: " << message << "\n";
  return 1;
}

cl::opt<bool> onCuda(
    "device-cuda",
    cl::desc("Not available yet: decoders keep their attention over the KV "
             "cache on the host (docs/gpu.md); the option says so instead of "
             "being unknown"),
    cl::init(false), cl::sub(tokrun::getGenerateCommand()));

std::string formatBytes(int64_t bytes) {
  if (bytes >= 1 << 20)
    return llvm::formatv("{0:f2} MiB", bytes / 1048576.0).str();
  if (bytes >= 1 << 10)
    return llvm::formatv("{0:f1} KiB", bytes / 1024.0).str();
  return llvm::formatv("{0} B", bytes).str();
}

std::string formatCount(int64_t n) {
  if (n >= 1000000000)
    return llvm::formatv("{0:f2} G", n / 1e9).str();
  if (n >= 1000000)
    return llvm::formatv("{0:f2} M", n / 1e6).str();
  if (n >= 1000)
    return llvm::formatv("{0:f1} k", n / 1e3).str();
  return std::to_string(n);
}

} // namespace

int tokrun::runGenerate(MLIRContext &context) {
  Clock::time_point t0 = Clock::now();
  if (onCuda)
    return fail("generate --device-cuda: decoder models do not run on the "
                "GPU yet: tok.cached_attention and the KV-cache ops have no "
                "GPU lowering (docs/gpu.md); tok-run --device=cuda runs "
                "functions and tok-run embed --device-cuda BERT encoders");
  if (maxNewTokens <= 0)
    return fail("--max-new-tokens must be positive, got " +
                llvm::Twine(maxNewTokens));
  if (!(temperature >= 0.0))
    return fail("--temperature must be non-negative");
  if (topK < 0)
    return fail("--top-k must be non-negative");
  if (!(topP > 0.0 && topP <= 1.0))
    return fail("--top-p must be in (0, 1]");
  if (cacheCapacity < 0)
    return fail("--cache-capacity must be positive");
  if (prefillChunk < 0)
    return fail("--prefill-chunk must be positive");
  if (repeatRuns == 0)
    return fail("--repeat must be at least 1");
  if (tokrun::hasBatchPrompts()) {
    if (!promptIds.empty() || !promptFile.empty() ||
        promptText.getNumOccurrences() || chatPrompt)
      return fail("--prompts takes the place of --prompt, --prompt-file, "
                  "--ids and --chat");
    tokrun::BatchArgs batch;
    batch.modelPath = modelPath;
    batch.tokenizerPath = tokenizerPath;
    batch.maxNewTokens = maxNewTokens;
    batch.eos = eosToken;
    batch.temperature = temperature;
    batch.printIds = printIds;
    batch.quiet = quiet;
    batch.optLevel = genOptLevel;
    batch.pipeline = passPipeline;
    return tokrun::runGenerateBatch(context, batch);
  }
  if (!promptIds.empty() + !promptFile.empty() +
          (promptText.getNumOccurrences() > 0) >
      1)
    return fail("give one of --prompt, --prompt-file and --ids");
  if (chatPrompt && !promptIds.empty())
    return fail("--chat takes --prompt or --prompt-file, not --ids");
  if (systemText.getNumOccurrences() && !chatPrompt)
    return fail("--system needs --chat");
  std::string text = promptText;
  if (!promptFile.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(promptFile, /*IsText=*/true);
    if (!buffer)
      return fail(promptFile + ": cannot read: " + buffer.getError().message());
    text = (*buffer)->getBuffer().str();
  }

  // Token ids need no tokenizer: without one, tokens print as <id>.
  auto opened = tok::LlamaModel::open(
      modelPath, tokenizerPath,
      promptIds.empty() ? tok::LlamaModel::TokenizerPolicy::Require
                        : tok::LlamaModel::TokenizerPolicy::IfFound);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  tok::LlamaModel &model = **opened;
  const tok::LlamaConfig &config = model.getConfig();

  // The prompt.
  std::vector<int32_t> prompt;
  if (!promptIds.empty()) {
    for (int64_t id : promptIds) {
      if (id < 0 || id >= config.vocab)
        return fail("token id " + llvm::Twine(id) +
                    " is outside the vocabulary of " +
                    llvm::Twine(config.vocab));
      prompt.push_back(static_cast<int32_t>(id));
    }
  } else {
    if (chatPrompt) {
      // The template writes the special tokens (BOS too): the rendered
      // text is encoded as it is.
      std::vector<tok::ChatMessage> messages;
      if (systemText.getNumOccurrences())
        messages.push_back({"system", systemText});
      messages.push_back({"user", text});
      auto chat =
          tok::applyChatTemplate(modelPath, model.getTokenizer(), messages);
      if (!chat)
        return fail("--chat: " + llvm::toString(chat.takeError()));
      text = std::move(chat->text);
      prompt = std::move(chat->ids);
    } else {
      auto encoded = model.getTokenizer().encodePrompt(text);
      if (!encoded)
        return fail(llvm::toString(encoded.takeError()));
      prompt = std::move(*encoded);
    }
  }
  if (prompt.empty())
    return fail("the prompt is empty; give --prompt text or --ids");
  if (printPrompt) {
    if (promptIds.empty())
      llvm::outs() << text << "\n";
    llvm::outs() << "ids:";
    for (int32_t id : prompt)
      llvm::outs() << " " << id;
    llvm::outs() << "\n";
    return 0;
  }
  int64_t promptLen = static_cast<int64_t>(prompt.size());
  if (maxPositions < 0)
    return fail("--positions must be positive, got " +
                llvm::Twine(maxPositions));
  int64_t positions = maxPositions ? maxPositions : config.maxPositions;
  if (promptLen >= positions)
    return fail("the prompt has " + llvm::Twine(promptLen) +
                " tokens; the model has " + llvm::Twine(positions) +
                " positions, so at most " + llvm::Twine(positions - 1) +
                " fit before a new one" +
                (maxPositions ? "" : " (--positions raises the limit)"));
  int64_t maxNew = maxNewTokens;
  if (maxNew > positions - promptLen) {
    maxNew = positions - promptLen;
    if (!quiet)
      llvm::errs() << "tok-run: generating at most " << maxNew
                   << " tokens: the model has " << positions << " positions\n";
  }

  // The compiled generator (the driver library does the work).
  tok::GenerateSettings settings;
  settings.maxNewTokens = maxNew;
  settings.sampler = {temperature, topK, topP, sampleSeed};
  settings.eos = tok::chooseEos(eosToken, config);
  settings.prefillChunk = prefillChunk;
  settings.cacheCapacity = cacheCapacity;
  settings.draftSkip.assign(draftSkip.begin(), draftSkip.end());
  settings.pipeline = passPipeline;
  settings.optLevel = genOptLevel;
  // A separate draft model: its weights are bound after the target's.
  std::unique_ptr<tok::LlamaModel> draftModel;
  if (!draftModelPath.empty()) {
    if (!settings.draftSkip.empty())
      return fail("--draft-model and --draft-skip are exclusive: one draft "
                  "at a time");
    auto opened = tok::LlamaModel::open(draftModelPath, "",
                                        tok::LlamaModel::TokenizerPolicy::Skip);
    if (!opened)
      return fail("--draft-model: " + llvm::toString(opened.takeError()));
    draftModel = std::move(*opened);
    const tok::LlamaConfig &draftConfig = draftModel->getConfig();
    if (std::string problem = tok::checkDraftModel(config, draftConfig);
        !problem.empty())
      return fail("--draft-model: " + problem);
    if (draftConfig.maxPositions < promptLen + maxNew && !maxPositions)
      return fail("--draft-model: the draft model has " +
                  llvm::Twine(draftConfig.maxPositions) +
                  " positions, fewer than the prompt and new tokens (" +
                  llvm::Twine(promptLen + maxNew) +
                  "); lower --max-new-tokens or raise --positions");
    settings.draftModel = draftModel.get();
  }
  if (!quiet)
    llvm::errs() << "tok-run: compiling " << model.getName() << " ("
                 << config.layers << " layers, dim " << config.dim
                 << ", vocabulary " << config.vocab << ") ...\n";
  // On a terminal, say which stage the (seconds-long) compile is in.
  settings.onLowered = [&](double seconds) {
    if (!quiet && llvm::errs().is_displayed())
      llvm::errs() << "tok-run:   lowered to LLVM in "
                   << llvm::formatv("{0:f2}", seconds)
                   << " s; generating machine code (LLVM -O" << genOptLevel
                   << ") ...\n";
  };
  Clock::time_point tModel = Clock::now();
  auto generator = tok::Generator::create(context, model, settings, promptLen);
  if (!generator)
    return fail(llvm::toString(generator.takeError()));
  Clock::time_point t4 = Clock::now();
  const tok::GeneratorReport &report = (*generator)->getReport();
  int64_t kvBytes = report.kvBytes;
  std::string cacheSlots = report.minSlots == report.maxSlots
                               ? std::to_string(report.maxSlots)
                               : std::to_string(report.minSlots) + " to " +
                                     std::to_string(report.maxSlots);

  StreamState stream;
  if (model.hasTokenizer()) {
    stream.tokenizer = &model.getTokenizer();
    llvm::Expected<std::string> shown = stream.tokenizer->decode(prompt);
    if (shown) {
      stream.text.write(*shown);
      stream.context = prompt;
      stream.written = shown->size();
    } else {
      llvm::consumeError(shown.takeError());
    }
  } else {
    for (int32_t id : prompt)
      stream.text.write(("<" + llvm::Twine(id) + ">").str());
  }

  // One generation per --repeat run; the first streams the text. Every
  // run's times are kept (prefill, decode, total) for the medians below.
  std::vector<int32_t> returned;
  SmallVector<double> prefillTimes, decodeTimes, totalTimes;
  tok::GenerateResult first;
  for (unsigned run = 0; run < repeatRuns; ++run) {
    stream.silent = run > 0;
    auto result = (*generator)->generate(prompt, [&](int32_t token, int64_t) {
      stream.show(token);
    });
    if (!result)
      return fail(llvm::toString(result.takeError()));
    if (run == 0) {
      stream.text.write("", /*final=*/true);
      llvm::outs() << "\n";
      first = *result;
      returned = result->tokens;
    } else if (result->tokens != returned) {
      // Every run's tokens are the first run's (the sampler is keyed by
      // the seed, not by state).
      return fail(llvm::formatv("internal error: run {0} of --repeat "
                                "generated other tokens than run 1",
                                run + 1));
    }
    prefillTimes.push_back(result->prefillSeconds);
    decodeTimes.push_back(result->decodeSeconds);
    totalTimes.push_back(result->totalSeconds);
  }
  if (printIds) {
    llvm::outs() << "ids:";
    for (int32_t id : returned)
      llvm::outs() << " " << id;
    llvm::outs() << "\n";
  }
  llvm::outs().flush();
  if (quiet)
    return 0;

  int64_t n = static_cast<int64_t>(returned.size());
  auto median = [](SmallVector<double> v) {
    llvm::sort(v);
    size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  };
  double prefill = median(prefillTimes), decode = median(decodeTimes);
  double modelSeconds = secondsBetween(t0, tModel) + report.buildSeconds;
  if (report.jit.cached)
    llvm::errs() << llvm::formatv(
        "tok-run: compiled in {0:f2} s (model {1:f2}, passes {2:f2}, machine "
        "code from the JIT cache {3:f2})\n",
        secondsBetween(t0, t4), modelSeconds, report.passSeconds,
        report.compileSeconds);
  else
    llvm::errs() << llvm::formatv(
        "tok-run: compiled in {0:f2} s (model {1:f2}, passes {2:f2}, lower "
        "{3:f2}, jit {4:f2})\n",
        secondsBetween(t0, t4), modelSeconds, report.passSeconds,
        report.jit.lowerSeconds,
        report.compileSeconds - report.jit.lowerSeconds);
  llvm::errs() << llvm::formatv(
      "tok-run: prefill {0} tokens in {1:f1} ms ({2:f1} tokens/s)\n", promptLen,
      prefill * 1e3, promptLen / prefill);
  if (n > 1)
    llvm::errs() << llvm::formatv(
        "tok-run: decode {0} tokens in {1:f1} ms ({2:f1} tokens/s)\n", n - 1,
        decode * 1e3, (n - 1) / decode);
  if (repeatRuns > 1) {
    auto [lo, hi] = std::minmax_element(decodeTimes.begin(), decodeTimes.end());
    llvm::errs() << llvm::formatv(
        "tok-run: {0} runs (times above are medians); decode {1:f1} to "
        "{2:f1} tokens/s\n",
        repeatRuns, n > 1 ? (n - 1) / *hi : 0.0, n > 1 ? (n - 1) / *lo : 0.0);
  }
  if (first.rounds > 0)
    llvm::errs() << llvm::formatv(
        "tok-run: speculative: {0} target calls for {1} tokens after the "
        "first ({2:f2} per token); {3} of {4} drafts accepted ({5:f1}%), "
        "{6:f2} per call\n",
        first.rounds, n - 1,
        n > 1 ? static_cast<double>(first.rounds) / (n - 1) : 0.0,
        first.accepted, first.drafted,
        first.drafted ? 100.0 * first.accepted / first.drafted : 0.0,
        static_cast<double>(first.accepted) / first.rounds);
  llvm::errs() << llvm::formatv(
      "tok-run: total {0:f1} ms; KV cache {1} at peak ({2} layers x {3} "
      "slots); weights {4} mapped in place, {5} in memory\n",
      median(totalTimes) * 1e3, formatBytes(kvBytes), config.layers, cacheSlots,
      formatBytes(model.getMappedBytes()), formatBytes(model.getOwnedBytes()));
  if (report.quantizedBytes)
    llvm::errs() << llvm::formatv(
        "tok-run: weights quantized at load (tok-quantize-weights): {0} in "
        "memory\n",
        formatBytes(report.quantizedBytes));
  auto costLine = [](const char *what, const tok::FunctionCost &c) {
    llvm::errs() << llvm::formatv(
        "tok-run:   {0,-24} {1,10}FLOP {2,10}B moved {3,10}B KV "
        "{4,10}FLOP in attention\n",
        what, formatCount(c.flops), formatCount(c.bytes),
        formatCount(c.kvBytes), formatCount(c.attentionFlops));
  };
  llvm::errs() << "tok-run: cost of one decode step (@step on 1 token, "
                  "tok-cost-report):\n";
  costLine("as imported", report.asImported);
  for (auto &[pass, cost] : report.afterEachPass)
    costLine(("after " + pass).c_str(), cost);

  return 0;
}
