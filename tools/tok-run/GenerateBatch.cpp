//===- GenerateBatch.cpp - tok-run generate --prompts ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Several prompts at once: one per line of a text file, or a JSON lines
// file (each line a JSON string, or an object with a "prompt" string).
// They run as one batch through BatchGenerator (continuous batching over
// paged KV memory, shared prompt prefixes); each prompt's continuation is
// printed, in the file's order, when the batch is done.
//
//===----------------------------------------------------------------------===//

#include "GenerateBatch.h"
#include "Generate.h"

#include "tok/Driver/BatchGenerator.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Support/Json.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>
#include <optional>

using namespace mlir;
namespace cl = llvm::cl;

namespace {

cl::opt<std::string> promptsFile(
    "prompts",
    cl::desc("Run several prompts as one batch: a text file with one prompt "
             "a line, or a .jsonl file (each line a JSON string or "
             "{\"prompt\": ...}, or a JSON array of token ids); greedy, "
             "continuous batching over paged KV memory with shared prompt "
             "prefixes"),
    cl::value_desc("path"), cl::init(""), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> pageSize("page-size",
                          cl::desc("With --prompts: token slots per KV page"),
                          cl::init(16), cl::sub(tokrun::getGenerateCommand()),
                          cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> kvPages(
    "kv-pages",
    cl::desc("With --prompts: KV pages per layer (default: enough for every "
             "prompt at once; fewer make sequences wait or be preempted)"),
    cl::init(0), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

cl::opt<int64_t> maxTokensPerStep(
    "max-step-tokens",
    cl::desc("With --prompts: tokens per batch step (prompt chunks and "
             "decode tokens together)"),
    cl::init(512), cl::sub(tokrun::getGenerateCommand()),
    cl::cat(tokrun::getGenerateCategory()));

int fail(const llvm::Twine &message) {
  llvm::errs() << "tok-run: " << message << "\n";
  return 1;
}

/// One prompt of the file: text to encode, or token ids as given.
struct Prompt {
  std::string text;
  std::optional<std::vector<int32_t>> ids;
};

/// The prompts of `path`, in order.
llvm::Expected<std::vector<Prompt>> readPrompts(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(
        path + ": cannot read: " + buffer.getError().message());
  bool jsonl = path.ends_with(".jsonl");
  std::vector<Prompt> prompts;
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (size_t n = 0; n < lines.size(); ++n) {
    llvm::StringRef line = lines[n].rtrim("\r");
    if (!jsonl) {
      prompts.push_back({line.str(), std::nullopt});
      continue;
    }
    if (line.trim().empty())
      continue;
    auto where = [&] { return path.str() + ":" + std::to_string(n + 1); };
    auto value = mlir::tok::parseJson(line);
    if (!value)
      return llvm::createStringError(where() + ": " +
                                     llvm::toString(value.takeError()));
    if (const llvm::json::Array *a = value->getAsArray()) {
      std::vector<int32_t> ids;
      for (const llvm::json::Value &v : *a) {
        std::optional<int64_t> id = v.getAsInteger();
        if (!id || *id < 0 || *id > std::numeric_limits<int32_t>::max())
          return llvm::createStringError(
              where() + ": token ids must be non-negative integers");
        ids.push_back(static_cast<int32_t>(*id));
      }
      prompts.push_back({"", std::move(ids)});
      continue;
    }
    std::optional<llvm::StringRef> text = value->getAsString();
    if (const llvm::json::Object *o = value->getAsObject())
      text = o->getString("prompt");
    if (!text)
      return llvm::createStringError(
          where() + ": expected a JSON string, {\"prompt\": string} or an "
                    "array of token ids");
    prompts.push_back({text->str(), std::nullopt});
  }
  if (prompts.empty())
    return llvm::createStringError(path + ": no prompts");
  return prompts;
}

} // namespace

bool tokrun::hasBatchPrompts() { return !promptsFile.empty(); }

int tokrun::runGenerateBatch(MLIRContext &context, const BatchArgs &args) {
  if (args.temperature != 0.0)
    return fail("--prompts generates greedily; sampling (--temperature) in "
                "batches is not supported yet");
  if (pageSize <= 0 || maxTokensPerStep <= 0 || kvPages < 0)
    return fail("--page-size and --max-step-tokens must be positive, "
                "--kv-pages not negative");
  auto texts = readPrompts(promptsFile);
  if (!texts)
    return fail(llvm::toString(texts.takeError()));
  bool allIds = llvm::all_of(*texts, [](const Prompt &p) { return p.ids; });
  auto opened =
      tok::LlamaModel::open(args.modelPath, args.tokenizerPath,
                            allIds ? tok::LlamaModel::TokenizerPolicy::IfFound
                                   : tok::LlamaModel::TokenizerPolicy::Require);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  tok::LlamaModel &model = **opened;
  const tok::LlamaConfig &config = model.getConfig();
  std::vector<std::vector<int32_t>> prompts;
  int64_t longest = 0;
  for (auto [i, prompt] : llvm::enumerate(*texts)) {
    if (prompt.ids) {
      for (int32_t id : *prompt.ids)
        if (id >= config.vocab)
          return fail(promptsFile + ": prompt " + llvm::Twine(i + 1) +
                      ": token id " + llvm::Twine(id) +
                      " is outside the vocabulary of " +
                      llvm::Twine(config.vocab));
    }
    auto ids = prompt.ids ? llvm::Expected<std::vector<int32_t>>(*prompt.ids)
                          : model.getTokenizer().encodePrompt(prompt.text);
    if (!ids)
      return fail(promptsFile + ": prompt " + llvm::Twine(i + 1) + ": " +
                  llvm::toString(ids.takeError()));
    if (ids->empty())
      return fail(promptsFile + ": prompt " + llvm::Twine(i + 1) + " is empty");
    longest = std::max<int64_t>(longest, ids->size());
    prompts.push_back(std::move(*ids));
  }
  tok::BatchSettings settings;
  settings.maxNewTokens = args.maxNewTokens;
  std::vector<int64_t> eos = tok::chooseEos(args.eos, config);
  settings.eos = eos;
  settings.pageSize = pageSize;
  settings.pages = kvPages;
  settings.maxTokensPerStep = maxTokensPerStep;
  // Up to 64 sequences at a time (the rest wait their turn), so that the
  // default pool is proportional to that, not to the file.
  settings.maxSequences = std::min<int64_t>(
      {static_cast<int64_t>(prompts.size()), maxTokensPerStep.getValue(), 64});
  settings.contextLimit =
      std::min<int64_t>(longest + args.maxNewTokens, config.maxPositions);
  if (longest >= config.maxPositions)
    return fail("a prompt of " + llvm::Twine(longest) +
                " tokens does not fit the model's " +
                llvm::Twine(config.maxPositions) + " positions");
  settings.maxNewTokens =
      std::min<int64_t>(args.maxNewTokens, settings.contextLimit - longest);
  settings.optLevel = args.optLevel;
  settings.pipeline = args.pipeline;
  auto gen = tok::BatchGenerator::create(context, model, settings);
  if (!gen)
    return fail(llvm::toString(gen.takeError()));
  auto out = (*gen)->generate(prompts);
  if (!out)
    return fail(llvm::toString(out.takeError()));
  for (auto [i, tokens] : llvm::enumerate(*out)) {
    if (model.hasTokenizer() && !(*texts)[i].ids) {
      auto text = model.getTokenizer().decode(tokens);
      if (!text)
        return fail(llvm::toString(text.takeError()));
      llvm::outs() << "[" << i + 1 << "] " << (*texts)[i].text << *text << "\n";
    }
    if (args.printIds || (*texts)[i].ids) {
      llvm::outs() << "ids[" << i + 1 << "]:";
      for (int32_t t : tokens)
        llvm::outs() << " " << t;
      llvm::outs() << "\n";
    }
  }
  const tok::BatchStats &s = (*gen)->getStats();
  if (!args.quiet)
    llvm::errs() << llvm::formatv(
        "tok-run: {0} prompts in {1} steps ({2} tokens scheduled, {3} prompt "
        "tokens from shared pages, {4} preemptions) in {5:f2} s after "
        "{6:f2} s compiling; {7} KV pages of {8} slots ({9} bytes), at most "
        "{10} held at once, {11} released behind a window\n",
        prompts.size(), s.steps, s.tokensScheduled, s.prefixHitTokens,
        s.preemptions, s.seconds, s.compileSeconds, (*gen)->getPages(),
        pageSize.getValue(), (*gen)->getPoolBytes(), s.peakPagesHeld,
        s.windowReleasedPages);
  return 0;
}
