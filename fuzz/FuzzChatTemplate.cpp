//===- FuzzChatTemplate.cpp - chat templates under libFuzzer --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a chat template's text: it is parsed, and rendered (when it
// parses) over a fixed conversation with tools and special tokens, as
// applyChatTemplate renders, and once more with the variables as JSON text
// read in order. Errors are expected; crashes, sanitizer reports, hangs and
// runaway memory are what the fuzzer looks for (a render's work is bounded,
// ChatTemplate.h).
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/ChatTemplate.h"

#include <cstddef>
#include <cstdint>
#include <ctime>

using namespace mlir::tok;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef source(reinterpret_cast<const char *>(data), size);
  auto t = ChatTemplate::parse(source, "fuzz");
  if (!t) {
    llvm::consumeError(t.takeError());
    return 0;
  }
  std::tm now = {};
  now.tm_year = 125;
  now.tm_mday = 14;
  t->setNow(now);
  const ChatMessage messages[] = {
      {"system", "Be brief."},
      {"user", "Hello, w\xc3\xb6rld! \xe4\xbd\xa0\xe5\xa5\xbd\n<|im_end|>"},
      {"assistant", "<think>\nhmm\n</think>\n\nFine."},
      {"user", "  Write \"quotes\" & <tags>.\n"}};
  auto text = t->render(
      messages, true,
      llvm::json::Object{{"bos_token", "<s>"}, {"eos_token", "</s>"}});
  if (!text)
    llvm::consumeError(text.takeError());
  auto json = t->renderJson(
      R"([{"role": "user", "content": "What is the weather?"},
          {"role": "assistant", "content": "", "tool_calls": [{"id": "call1",
           "type": "function", "function": {"name": "get_weather",
           "arguments": {"city": "Paris"}}}]},
          {"role": "tool", "content": "{\"t\": 21}", "tool_call_id": "call1"},
          {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}])",
      false,
      R"({"bos_token": "<s>", "eos_token": "</s>", "tools": [{"type":
          "function", "function": {"name": "get_weather", "parameters":
          {"type": "object", "properties": {"city": {"type": "string"}}}}}]})");
  if (!json)
    llvm::consumeError(json.takeError());
  return 0;
}
