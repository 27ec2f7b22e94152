//===- GeneratorTest.cpp - the driver library's decoder path --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The tokens a Generator streams and returns, generations on two threads at
// once, and the errors it returns instead of compiling. The greedy tokens'
// reference is an independent path through the same model: the argmax of
// the last row of @forward's logits (one step from empty caches, JIT-called
// on its own) gives the first new token; the NumPy comparison of whole
// generations is test/Integration/generate.test.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Generator.h"
#include "tok/Driver/Context.h"
#include "tok/Driver/Jit.h"
#include "tok/Execution/JitCall.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

using namespace mlir;

namespace {

class GeneratorTest : public ::testing::Test {
protected:
  void SetUp() override {
    // No JIT cache: nothing written under the user's home.
    setenv("TOK_JIT_CACHE_MB", "0", 1);
    tok::initializeDriver();
    tok::registerDriverDialects(registry);
    context = std::make_unique<MLIRContext>(registry);
    auto opened = tok::LlamaModel::open("builtin", "",
                                        tok::LlamaModel::TokenizerPolicy::Skip);
    ASSERT_TRUE(static_cast<bool>(opened)) << toString(opened.takeError());
    model = std::move(*opened);
  }

  std::string errorOf(const tok::GenerateSettings &settings,
                      int64_t maxPrompt = 4) {
    auto g = tok::Generator::create(*context, *model, settings, maxPrompt);
    if (g)
      return "";
    return toString(g.takeError());
  }

  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  std::unique_ptr<tok::LlamaModel> model;
};

TEST_F(GeneratorTest, StreamsWhatItReturnsAndStartsWithForwardsArgmax) {
  std::vector<int32_t> prompt = {100, 101, 102};
  tok::GenerateSettings settings;
  settings.maxNewTokens = 6;
  auto g = tok::Generator::create(*context, *model, settings, 3);
  ASSERT_TRUE(static_cast<bool>(g)) << toString(g.takeError());
  std::vector<std::pair<int32_t, int64_t>> streamed;
  auto result = (*g)->generate(prompt, [&](int32_t token, int64_t index) {
    streamed.emplace_back(token, index);
  });
  ASSERT_TRUE(static_cast<bool>(result)) << toString(result.takeError());
  ASSERT_EQ(result->tokens.size(), 6u);
  ASSERT_EQ(streamed.size(), 6u);
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i].first, result->tokens[i]);
    EXPECT_EQ(streamed[i].second, static_cast<int64_t>(i));
  }
  EXPECT_EQ(result->rounds, 0);

  // The reference: @forward on the prompt, the argmax of its last row.
  const tok::LlamaConfig &config = model->getConfig();
  tok::LlamaModuleOptions options;
  options.cacheCapacity = 8;
  OwningOpRef<ModuleOp> module =
      tok::buildLlamaModule(context.get(), config, options);
  auto forward = module->lookupSymbol<func::FuncOp>("forward");
  forward->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                   UnitAttr::get(context.get()));
  FunctionType type = forward.getFunctionType();
  tok::JitOptions jitOptions;
  std::string entryName = "_mlir_ciface_forward";
  jitOptions.entries = entryName;
  auto jit = tok::Jit::create(*module, jitOptions);
  ASSERT_TRUE(static_cast<bool>(jit)) << toString(jit.takeError());
  auto entry = (*jit)->lookupPacked(entryName);
  ASSERT_TRUE(static_cast<bool>(entry)) << toString(entry.takeError());
  std::vector<int32_t> positions = {0, 1, 2};
  SmallVector<tok::NpyArray> args;
  args.push_back(tok::NpyArray::view(tok::NpyDType::I32, {3}, prompt.data()));
  args.push_back(
      tok::NpyArray::view(tok::NpyDType::I32, {3}, positions.data()));
  for (auto [i, w] : llvm::enumerate(tok::getLlamaWeights(config)))
    args.push_back(tok::NpyArray::view(tok::NpyDType::F32, w.shape,
                                       model->getWeights()[i]));
  SmallVector<tok::NpyArray> logits;
  {
    tok::JitCall call(type, args);
    (*entry)(call.getPackedArguments().data());
    logits = call.takeResults();
  }
  ASSERT_EQ(logits.front().getNumElements(), 3 * config.vocab);
  auto *row =
      static_cast<const float *>(logits.front().data()) + 2 * config.vocab;
  int32_t best = 0;
  for (int32_t v = 1; v < config.vocab; ++v)
    if (row[v] > row[best])
      best = v;
  EXPECT_EQ(result->tokens.front(), best);
}

TEST_F(GeneratorTest, TwoThreadsGenerateAsOne) {
  tok::GenerateSettings settings;
  settings.maxNewTokens = 12;
  settings.sampler = {0.8, 20, 0.95, 7};
  auto g = tok::Generator::create(*context, *model, settings, 4);
  ASSERT_TRUE(static_cast<bool>(g)) << toString(g.takeError());
  std::vector<int32_t> promptA = {1, 2, 3, 4}, promptB = {50, 60};
  auto alone = [&](ArrayRef<int32_t> prompt) {
    auto r = (*g)->generate(prompt);
    EXPECT_TRUE(static_cast<bool>(r));
    return r ? r->tokens : std::vector<int32_t>{};
  };
  std::vector<int32_t> a = alone(promptA), b = alone(promptB);
  ASSERT_EQ(a.size(), 12u);
  ASSERT_NE(a, b);
  std::vector<int32_t> streamedA, streamedB, returnedA, returnedB;
  auto run = [&](ArrayRef<int32_t> prompt, std::vector<int32_t> &streamed,
                 std::vector<int32_t> &returned) {
    for (int i = 0; i < 3; ++i) {
      streamed.clear();
      auto r = (*g)->generate(
          prompt, [&](int32_t token, int64_t) { streamed.push_back(token); });
      if (!r) {
        llvm::consumeError(r.takeError());
        return;
      }
      returned = r->tokens;
    }
  };
  std::thread ta(run, ArrayRef<int32_t>(promptA), std::ref(streamedA),
                 std::ref(returnedA));
  std::thread tb(run, ArrayRef<int32_t>(promptB), std::ref(streamedB),
                 std::ref(returnedB));
  ta.join();
  tb.join();
  EXPECT_EQ(returnedA, a);
  EXPECT_EQ(streamedA, a);
  EXPECT_EQ(returnedB, b);
  EXPECT_EQ(streamedB, b);
}

TEST_F(GeneratorTest, RefusesWhatDoesNotFit) {
  tok::GenerateSettings settings;
  settings.maxNewTokens = 4;
  settings.eos = {3, 256};
  EXPECT_NE(errorOf(settings).find("outside the vocabulary of 256"),
            std::string::npos);
  settings.eos.clear();
  settings.cacheCapacity = 5;
  EXPECT_NE(errorOf(settings).find("a cache of 5 slots cannot hold the "
                                   "prompt (4 tokens) and 4 new tokens"),
            std::string::npos);
  settings.cacheCapacity = 0;
  settings.pipeline = "no-such-pass";
  EXPECT_NE(errorOf(settings).find("no-such-pass"), std::string::npos);
  settings.pipeline = "builtin.module(canonicalize)";
  EXPECT_NE(errorOf(settings).find("without the builtin.module"),
            std::string::npos);
  settings.pipeline.clear();
  settings.draftSkip = {6};
  EXPECT_NE(errorOf(settings).find("layer 6 is not in [0, 6)"),
            std::string::npos);
  settings.draftSkip.clear();
  settings.maxNewTokens = 0;
  EXPECT_NE(errorOf(settings).find("must be positive"), std::string::npos);

  settings.maxNewTokens = 2;
  auto g = tok::Generator::create(*context, *model, settings, 2);
  ASSERT_TRUE(static_cast<bool>(g)) << toString(g.takeError());
  std::vector<int32_t> tooLong = {1, 2, 3}, badId = {1, 256}, empty;
  for (auto [prompt, message] :
       {std::pair{ArrayRef<int32_t>(tooLong), "compiled for at most 2"},
        {ArrayRef<int32_t>(badId), "token id 256 is outside"},
        {ArrayRef<int32_t>(empty), "the prompt has no tokens"}}) {
    auto r = (*g)->generate(prompt);
    ASSERT_FALSE(static_cast<bool>(r));
    EXPECT_NE(toString(r.takeError()).find(message), std::string::npos);
  }
}

} // namespace

TEST_F(GeneratorTest, GenerateWhileStopsWhereTheCallbackSays) {
  tok::GenerateSettings settings;
  settings.maxNewTokens = 10;
  auto g = tok::Generator::create(*context, *model, settings, 3);
  ASSERT_TRUE(static_cast<bool>(g)) << toString(g.takeError());
  std::vector<int32_t> prompt = {7, 8, 9};
  auto whole = (*g)->generate(prompt);
  ASSERT_TRUE(static_cast<bool>(whole)) << toString(whole.takeError());
  ASSERT_EQ(whole->tokens.size(), 10u);
  EXPECT_FALSE(whole->stopped);
  // Stopped after the fourth token, many times over (each stop leaves the
  // compiled loop with its caches allocated): the tokens so far, and the
  // generator is as good as new afterwards.
  for (int i = 0; i < 50; ++i) {
    std::vector<int32_t> seen;
    auto part = (*g)->generateWhile(prompt, [&](int32_t token, int64_t) {
      seen.push_back(token);
      return seen.size() < 4;
    });
    ASSERT_TRUE(static_cast<bool>(part)) << toString(part.takeError());
    EXPECT_TRUE(part->stopped);
    EXPECT_EQ(part->tokens, std::vector<int32_t>(whole->tokens.begin(),
                                                 whole->tokens.begin() + 4));
    EXPECT_EQ(seen, part->tokens);
  }
  auto again =
      (*g)->generateWhile(prompt, [](int32_t, int64_t) { return true; });
  ASSERT_TRUE(static_cast<bool>(again)) << toString(again.takeError());
  EXPECT_FALSE(again->stopped);
  EXPECT_EQ(again->tokens, whole->tokens);
}

TEST(JitGuardTest, FailedCheckEndsTheRunNotTheProcess) {
  setenv("TOK_JIT_CACHE_MB", "0", 1);
  tok::initializeDriver();
  DialectRegistry registry;
  tok::registerDriverDialects(registry);
  MLIRContext context(registry);
  // A buffer allocated, then a check on the argument: with %x = 0 the
  // check fails after the allocation.
  const char *text = R"mlir(
    func.func @check(%x: i64) -> i64 {
      %c0 = arith.constant 0 : i64
      %buf = memref.alloc() : memref<4096xf32>
      %ok = arith.cmpi ne, %x, %c0 : i64
      cf.assert %ok, "x must not be zero"
      %c1 = arith.constant 1 : index
      %f = arith.constant 1.0 : f32
      memref.store %f, %buf[%c1] : memref<4096xf32>
      memref.dealloc %buf : memref<4096xf32>
      return %x : i64
    }
  )mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  tok::JitOptions options;
  options.lowering = "tok-to-llvm";
  auto jit = tok::Jit::create(*module, options);
  ASSERT_TRUE(static_cast<bool>(jit)) << toString(jit.takeError());
  auto fn = (*jit)->lookupPacked("check");
  ASSERT_TRUE(static_cast<bool>(fn)) << toString(fn.takeError());
  auto call = [&](int64_t x, int64_t &out) {
    void *args[] = {&x, &out};
    return tok::runGuarded([&] { (*fn)(args); });
  };
  for (int i = 0; i < 3; ++i) {
    int64_t out = -1;
    tok::GuardedRun failed = call(0, out);
    EXPECT_EQ(failed.outcome, tok::GuardedRun::CheckFailed);
    EXPECT_EQ(failed.message, "x must not be zero");
    EXPECT_EQ(out, -1);
    tok::GuardedRun fine = call(5, out);
    EXPECT_EQ(fine.outcome, tok::GuardedRun::Completed);
    EXPECT_EQ(out, 5);
  }
  // No run to stop on this thread: nothing happens.
  EXPECT_FALSE(tok::stopGuardedRun());
}
