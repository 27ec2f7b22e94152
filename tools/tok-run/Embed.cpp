//===- Embed.cpp - tok-run embed: sentence embeddings ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Opens a BERT-family encoder (a Hugging Face directory), tokenizes the
// inputs and hands them to the driver library's Encoder
// (tok/Driver/Encoder.h: the module, the user's --pipeline of tok passes
// such as token merging or pruning, the lowering, the JIT): one line of
// numbers per sentence on stdout, timings and costs on stderr.
//
//===----------------------------------------------------------------------===//

#include "Embed.h"

#include "tok/Driver/Encoder.h"
#include "tok/Frontend/BertModel.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

using namespace mlir;
namespace cl = llvm::cl;

cl::SubCommand &tokrun::getEmbedCommand() {
  static cl::SubCommand command(
      "embed", "Sentence embeddings with a BERT-family encoder (a Hugging "
               "Face directory: config.json, model.safetensors, "
               "tokenizer.json)");
  return command;
}

cl::OptionCategory &tokrun::getEmbedCategory() {
  static cl::OptionCategory category("tok-run embed options");
  return category;
}

namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

cl::opt<std::string> modelPath("model",
                               cl::desc("A Hugging Face BERT directory "
                                        "(model_type 'bert')"),
                               cl::value_desc("path"), cl::Required,
                               cl::sub(tokrun::getEmbedCommand()),
                               cl::cat(tokrun::getEmbedCategory()));

cl::list<std::string> texts("text",
                            cl::desc("A sentence to embed (repeatable)"),
                            cl::value_desc("text"),
                            cl::sub(tokrun::getEmbedCommand()),
                            cl::cat(tokrun::getEmbedCategory()));

cl::opt<std::string>
    textFile("file", cl::desc("Embed every non-empty line of this file"),
             cl::value_desc("path"), cl::init(""),
             cl::sub(tokrun::getEmbedCommand()),
             cl::cat(tokrun::getEmbedCategory()));

cl::list<int64_t> ids("ids",
                      cl::desc("Embed these token ids (with [CLS] and [SEP] "
                               "if the model wants them) instead of text"),
                      cl::value_desc("id,id,..."), cl::CommaSeparated,
                      cl::sub(tokrun::getEmbedCommand()),
                      cl::cat(tokrun::getEmbedCategory()));

cl::opt<int64_t> maxTokens(
    "max-tokens",
    cl::desc("Truncate longer inputs to this many tokens, keeping the last "
             "one (BERT's [SEP]); 0: an input longer than the model's "
             "positions is an error"),
    cl::init(0), cl::sub(tokrun::getEmbedCommand()),
    cl::cat(tokrun::getEmbedCategory()));

cl::opt<std::string>
    passPipeline("pipeline",
                 cl::desc("tok passes applied to the encoder before lowering, "
                          "in --pass-pipeline syntax without the anchor, e.g. "
                          "'tok-token-merge{r=8}'"),
                 cl::value_desc("passes"), cl::init(""),
                 cl::sub(tokrun::getEmbedCommand()),
                 cl::cat(tokrun::getEmbedCategory()));

cl::opt<bool> normalize("normalize",
                        cl::desc("L2-normalize the pooled embedding (the "
                                 "sentence-transformers default)"),
                        cl::init(true), cl::sub(tokrun::getEmbedCommand()),
                        cl::cat(tokrun::getEmbedCategory()));

cl::opt<unsigned> repeat("repeat",
                         cl::desc("Embed every sentence this many times and "
                                  "report the fastest forward"),
                         cl::init(1), cl::sub(tokrun::getEmbedCommand()),
                         cl::cat(tokrun::getEmbedCategory()));

cl::opt<bool> printIds("print-ids",
                       cl::desc("Print each sentence's token ids first"),
                       cl::init(false), cl::sub(tokrun::getEmbedCommand()),
                       cl::cat(tokrun::getEmbedCategory()));

cl::opt<bool> quiet("quiet", cl::desc("No timings or costs on stderr"),
                    cl::init(false), cl::sub(tokrun::getEmbedCommand()),
                    cl::cat(tokrun::getEmbedCategory()));

cl::opt<bool> onCuda(
    "device-cuda",
    cl::desc("Run the attention of every block on an NVIDIA GPU (lowered "
             "with tok-to-nvvm; the rest of the model stays on the host)"),
    cl::init(false), cl::sub(tokrun::getEmbedCommand()),
    cl::cat(tokrun::getEmbedCategory()));

int fail(const llvm::Twine &message) {
  llvm::outs().flush();
  llvm::errs() << "tok-run embed: " << message << "\n";
  return 1;
}

} // namespace

int tokrun::runEmbed(MLIRContext &context) {
  Clock::time_point t0 = Clock::now();
  if (repeat == 0)
    return fail("--repeat must be positive");
  auto opened = tok::BertModel::open(modelPath);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  tok::BertModel &model = **opened;
  const tok::BertConfig &config = model.getConfig();

  // The inputs, as token ids.
  std::vector<std::vector<int32_t>> inputs;
  std::vector<std::string> sentences(texts.begin(), texts.end());
  if (!textFile.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(textFile, /*IsText=*/true);
    if (!buffer)
      return fail(textFile + ": cannot read: " + buffer.getError().message());
    llvm::SmallVector<StringRef> lines;
    (*buffer)->getBuffer().split(lines, '\n');
    for (StringRef line : lines)
      if (!line.trim().empty())
        sentences.push_back(line.str());
  }
  for (const std::string &s : sentences) {
    auto encoded = model.getTokenizer().encode(s);
    if (!encoded)
      return fail(llvm::toString(encoded.takeError()));
    inputs.push_back(std::move(*encoded));
  }
  if (!ids.empty()) {
    std::vector<int32_t> row;
    for (int64_t id : ids) {
      if (id < 0 || id >= config.vocab)
        return fail("token id " + llvm::Twine(id) +
                    " is outside the vocabulary of " +
                    llvm::Twine(config.vocab));
      row.push_back(static_cast<int32_t>(id));
    }
    inputs.push_back(std::move(row));
  }
  if (inputs.empty())
    return fail("nothing to embed; give --text, --file or --ids");
  if (maxTokens < 0 || maxTokens == 1)
    return fail("--max-tokens must be 0 or at least 2, got " +
                llvm::Twine(maxTokens));
  for (std::vector<int32_t> &row : inputs) {
    if (maxTokens > 0 && static_cast<int64_t>(row.size()) > maxTokens) {
      int32_t last = row.back();
      row.resize(maxTokens - 1);
      row.push_back(last);
    }
  }
  for (auto [i, row] : llvm::enumerate(inputs)) {
    if (row.empty())
      return fail("input #" + llvm::Twine(i) + " has no tokens");
    if (static_cast<int64_t>(row.size()) > config.maxPositions)
      return fail("input #" + llvm::Twine(i) + " has " +
                  llvm::Twine(row.size()) + " tokens; the model has " +
                  llvm::Twine(config.maxPositions) +
                  " positions (--max-tokens truncates)");
  }

  // The compiled encoder (the driver library does the work).
  tok::EmbedSettings settings;
  settings.normalize = normalize;
  settings.pipeline = passPipeline;
  settings.cuda = onCuda;
  settings.costTokens = static_cast<int64_t>(inputs.front().size());
  auto encoder = tok::Encoder::create(context, model, settings);
  if (!encoder)
    return fail(llvm::toString(encoder.takeError()));
  Clock::time_point t2 = Clock::now();

  double totalBest = 0;
  int64_t totalTokens = 0;
  for (std::vector<int32_t> &row : inputs) {
    std::vector<float> vector;
    double best = 1e30;
    for (unsigned r = 0; r < repeat; ++r) {
      Clock::time_point s = Clock::now();
      auto embedded = (*encoder)->embed(row);
      best = std::min(best, secondsBetween(s, Clock::now()));
      if (!embedded)
        return fail(llvm::toString(embedded.takeError()));
      vector = std::move(*embedded);
    }
    totalBest += best;
    totalTokens += static_cast<int64_t>(row.size());
    if (printIds) {
      llvm::outs() << "ids:";
      for (int32_t id : row)
        llvm::outs() << " " << id;
      llvm::outs() << "\n";
    }
    for (auto [j, x] : llvm::enumerate(vector))
      llvm::outs() << (j ? " " : "") << llvm::formatv("{0:e7}", x);
    llvm::outs() << "\n";
  }
  llvm::outs().flush();
  if (quiet)
    return 0;
  llvm::errs() << llvm::formatv(
      "tok-run embed: compiled in {0:f2} s; {1} inputs, {2} tokens, "
      "forward {3:f2} ms in all ({4:f1} tokens/s, fastest of {5})\n",
      secondsBetween(t0, t2), inputs.size(), totalTokens, totalBest * 1e3,
      totalTokens / totalBest, static_cast<unsigned>(repeat));
  // The cost model counts a dynamic token dimension as one size, so it
  // cannot see what merging or pruning saves: only the imported cost.
  llvm::errs() << llvm::formatv(
      "tok-run embed: cost of @encode on {0} tokens as imported: {1:f3} "
      "GFLOP\n",
      settings.costTokens, (*encoder)->getReport().asImported.flops / 1e9);
  return 0;
}
