//===- tok-serve.cpp - an OpenAI-compatible HTTP server -------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-serve: one model behind HTTP. The model's batch step is compiled
// once into a ServingEngine (continuous batching over paged KV memory, on
// its own thread); cpp-httplib's worker threads parse requests, submit
// them, and stream the tokens back as they come, as text (detokenized
// incrementally, held back where a stop string may begin). Endpoints:
// POST /v1/completions, POST /v1/chat/completions (the model's chat
// template), GET /v1/models, GET /health, GET /metrics (Prometheus text).
// docs/serving.md, "tok-serve", describes the options and limits.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Context.h"
#include "tok/Driver/ServingEngine.h"
#include "tok/Frontend/ChatPrompt.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Frontend/Tokenizer.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

using namespace mlir;
namespace cl = llvm::cl;
namespace json = llvm::json;

namespace {

cl::OptionCategory serveCategory("tok-serve options");

cl::opt<std::string> modelPath(
    "model",
    cl::desc("The model: 'builtin' (a seeded 6-layer Llama, byte "
             "vocabulary), a Hugging Face directory, a GGUF file or a "
             "llama2.c .bin"),
    cl::value_desc("path|builtin"), cl::Required, cl::cat(serveCategory));
cl::opt<std::string>
    tokenizerPath("tokenizer",
                  cl::desc("The tokenizer (default: the model's own)"),
                  cl::value_desc("path"), cl::init(""), cl::cat(serveCategory));
cl::opt<std::string> modelName(
    "model-name",
    cl::desc("The model's id in responses and /v1/models (default: the "
             "model path's file name)"),
    cl::init(""), cl::cat(serveCategory));
cl::opt<std::string> host("host", cl::desc("Address to listen on"),
                          cl::init("127.0.0.1"), cl::cat(serveCategory));
cl::opt<int> port("port", cl::desc("Port to listen on (0: any free port)"),
                  cl::init(8080), cl::cat(serveCategory));
cl::opt<int64_t> pageSize("page-size", cl::desc("Token slots per KV page"),
                          cl::init(16), cl::cat(serveCategory));
cl::opt<int64_t> kvPages(
    "kv-pages",
    cl::desc("KV pages per layer (default: a full context for every "
             "sequence of --max-sequences; fewer make requests wait or be "
             "preempted)"),
    cl::init(0), cl::cat(serveCategory));
cl::opt<int64_t> maxStepTokens(
    "max-step-tokens",
    cl::desc("Tokens per batch step (prompt chunks and decode tokens)"),
    cl::init(512), cl::cat(serveCategory));
cl::opt<int64_t>
    maxSequences("max-sequences",
                 cl::desc("Sequences running at once (each step decodes all)"),
                 cl::init(16), cl::cat(serveCategory));
cl::opt<bool> noPrefixCache(
    "no-prefix-cache",
    cl::desc("Do not share KV pages between requests whose prompts start "
             "alike (every prompt is prefilled in full; for measuring what "
             "sharing saves)"),
    cl::init(false), cl::cat(serveCategory));
cl::opt<int64_t> maxQueue(
    "max-queue",
    cl::desc("Requests waiting beyond --max-sequences at most; more are "
             "refused with 503"),
    cl::init(64), cl::cat(serveCategory));
cl::opt<int64_t> contextSize(
    "context",
    cl::desc("Positions of a request, prompt plus new tokens (default: the "
             "model's maximum, at most 4096)"),
    cl::init(0), cl::cat(serveCategory));
cl::opt<int64_t>
    maxBodyBytes("max-body-bytes",
                 cl::desc("Largest request body accepted (larger: 413)"),
                 cl::init(1 << 20), cl::cat(serveCategory));
cl::opt<int> timeoutSeconds(
    "timeout-s",
    cl::desc("Seconds a connection may stall reading a request or taking "
             "a response before it is dropped"),
    cl::init(30), cl::cat(serveCategory));
cl::opt<int> drainSeconds(
    "drain-s",
    cl::desc("On SIGTERM / SIGINT: seconds in-flight requests may run on "
             "before they are cut short"),
    cl::init(10), cl::cat(serveCategory));
cl::opt<std::string> passPipeline(
    "pipeline",
    cl::desc("tok passes applied to the batch step before lowering, as "
             "tok-run generate's --pipeline, e.g. 'tok-kv-evict{policy=window "
             "budget=260 sinks=4 recent=256}'"),
    cl::value_desc("passes"), cl::init(""), cl::cat(serveCategory));
cl::opt<unsigned> optLevel("O", cl::desc("Optimization level (0-3)"),
                           cl::init(3), cl::cat(serveCategory));

using Clock = std::chrono::steady_clock;

std::mutex logMutex;
void logLine(const std::string &line) {
  std::lock_guard<std::mutex> lock(logMutex);
  llvm::errs() << "tok-serve: " << line << "\n";
}

/// An OpenAI-style error body.
std::string errorBody(llvm::StringRef message, llvm::StringRef type) {
  json::Object error{{"message", json::fixUTF8(message)},
                     {"type", type},
                     {"param", nullptr},
                     {"code", nullptr}};
  return llvm::formatv("{0}",
                       json::Value(json::Object{{"error", std::move(error)}}))
      .str();
}

void setError(httplib::Response &res, int status, llvm::StringRef message) {
  llvm::StringRef type = status == 400   ? "invalid_request_error"
                         : status == 404 ? "not_found_error"
                         : status == 413 ? "invalid_request_error"
                         : status == 503 ? "server_overloaded"
                                         : "server_error";
  res.status = status;
  res.set_content(errorBody(message, type), "application/json");
}

std::string toJsonText(json::Value value) {
  return llvm::formatv("{0}", value).str();
}

/// Bytes at the end of `s` that begin a UTF-8 sequence not yet complete.
size_t incompleteUtf8Tail(llvm::StringRef s) {
  for (size_t back = 1; back <= 3 && back <= s.size(); ++back) {
    unsigned char c = s[s.size() - back];
    if ((c & 0xC0) == 0x80)
      continue; // a continuation byte: look further back
    size_t need = (c & 0xE0) == 0xC0   ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/// A request's text as its tokens come: the decoded completion, released
/// up to the first stop string (which is not released), holding back a
/// suffix that may begin one, an incomplete UTF-8 character, or a
/// replacement character a later token may complete.
class TextStream {
public:
  TextStream(const tok::Tokenizer &tokenizer, std::vector<std::string> stops)
      : tokenizer(tokenizer), stops(std::move(stops)) {}

  /// Appends `ids`; the newly released text (valid UTF-8).
  llvm::Expected<std::string> push(llvm::ArrayRef<int32_t> newIds, bool final) {
    if (stopped)
      return std::string();
    llvm::append_range(ids, newIds);
    auto decoded = tokenizer.decode(ids);
    if (!decoded)
      return decoded.takeError();
    const std::string &text = *decoded;
    size_t end = text.size();
    size_t first = std::string::npos;
    for (const std::string &s : stops) {
      size_t at = text.find(s);
      if (at < first)
        first = at;
    }
    if (first != std::string::npos) {
      stopped = true;
      end = first;
    } else if (!final) {
      size_t hold = 0;
      for (const std::string &s : stops)
        for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
          if (llvm::StringRef(text).ends_with(
                  llvm::StringRef(s).take_front(k))) {
            hold = k;
            break;
          }
      hold = std::max(hold, incompleteUtf8Tail(text));
      if (llvm::StringRef(text).ends_with("\xEF\xBF\xBD"))
        hold = std::max<size_t>(hold, 3);
      end = text.size() - std::min(hold, text.size());
    }
    if (end <= sent)
      return std::string();
    std::string out = text.substr(sent, end - sent);
    sent = end;
    released += out;
    return json::isUTF8(out) ? out : json::fixUTF8(out);
  }

  bool hasStopped() const { return stopped; }
  size_t numTokens() const { return ids.size(); }
  const std::vector<int32_t> &getIds() const { return ids; }
  /// Everything released so far (raw bytes).
  const std::string &getText() const { return released; }

private:
  const tok::Tokenizer &tokenizer;
  std::vector<std::string> stops;
  std::vector<int32_t> ids;
  size_t sent = 0;
  std::string released;
  bool stopped = false;
};

/// What the engine thread hands a request's HTTP thread.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable ready;
  std::vector<int32_t> tokens;
  bool finished = false;
  tok::EngineFinish reason = tok::EngineFinish::Length;
  std::string message;

  tok::EngineCallback callback() {
    return [this](const tok::EngineEvent &e) {
      std::lock_guard<std::mutex> lock(mutex);
      if (e.kind == tok::EngineEvent::Kind::Token) {
        tokens.push_back(e.token);
      } else {
        finished = true;
        reason = e.reason;
        message = e.message;
      }
      ready.notify_all();
    };
  }

  /// Waits for tokens or the end; takes the tokens.
  std::vector<int32_t> take(bool &done, tok::EngineFinish &why,
                            std::string &msg) {
    std::unique_lock<std::mutex> lock(mutex);
    ready.wait(lock, [&] { return finished || !tokens.empty(); });
    std::vector<int32_t> out;
    out.swap(tokens);
    done = finished;
    why = reason;
    msg = message;
    return out;
  }
};

/// A parsed generation request.
struct Job {
  bool chat = false;
  bool stream = false;
  std::vector<int32_t> prompt;
  int64_t maxTokens = 16;
  tok::SamplingParams sampling;
  std::vector<std::string> stops;
};

class Server {
public:
  Server(tok::ServingEngine &engine, const tok::LlamaModel &model,
         std::string name, bool hasChatTemplate, int64_t maxActive)
      : engine(engine), model(model), name(std::move(name)),
        hasChatTemplate(hasChatTemplate), maxActive(maxActive) {}

  void install(httplib::Server &http);
  /// New generation requests are refused from now on.
  void beginDrain() { draining = true; }
  int64_t numActive() const { return active; }

private:
  void handleGenerate(const httplib::Request &req, httplib::Response &res,
                      bool chat);
  /// Parses the body into `job`; the error message, or empty.
  std::string parse(const httplib::Request &req, bool chat, Job &job);
  void handleMetrics(httplib::Response &res);

  tok::ServingEngine &engine;
  const tok::LlamaModel &model;
  std::string name;
  bool hasChatTemplate;
  int64_t maxActive;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> counter{0};
  std::atomic<int64_t> cancelled{0};
};

/// The number at `key` of `o`, if present; an error message if it is not
/// a number.
std::string getNumber(const json::Object &o, llvm::StringRef key,
                      std::optional<double> &out) {
  const json::Value *v = o.get(key);
  if (!v || v->kind() == json::Value::Null)
    return "";
  std::optional<double> d = v->getAsNumber();
  if (!d)
    return ("'" + key + "' must be a number").str();
  out = d;
  return "";
}

std::string getInteger(const json::Object &o, llvm::StringRef key,
                       std::optional<int64_t> &out) {
  const json::Value *v = o.get(key);
  if (!v || v->kind() == json::Value::Null)
    return "";
  std::optional<int64_t> i = v->getAsInteger();
  if (!i) {
    // 16.0 is an integer too.
    std::optional<double> d = v->getAsNumber();
    if (d && *d == static_cast<double>(static_cast<int64_t>(*d)) &&
        std::abs(*d) < 9e15)
      i = static_cast<int64_t>(*d);
  }
  if (!i)
    return ("'" + key + "' must be an integer").str();
  out = i;
  return "";
}

std::string Server::parse(const httplib::Request &req, bool chat, Job &job) {
  job.chat = chat;
  auto body = json::parse(req.body);
  if (!body)
    return "the body is not valid JSON: " + llvm::toString(body.takeError());
  const json::Object *o = body->getAsObject();
  if (!o)
    return "the body must be a JSON object";
  if (const json::Value *v = o->get("model"))
    if (!v->getAsString() && v->kind() != json::Value::Null)
      return "'model' must be a string";
  // Options tok does not support, unless at their defaults.
  std::optional<int64_t> n, bestOf;
  if (std::string e = getInteger(*o, "n", n); !e.empty())
    return e;
  if (n && *n != 1)
    return "only n = 1 is supported";
  if (std::string e = getInteger(*o, "best_of", bestOf); !e.empty())
    return e;
  if (bestOf && *bestOf != 1)
    return "only best_of = 1 is supported";
  if (const json::Value *v = o->get("echo"))
    if (v->getAsBoolean().value_or(false))
      return "echo is not supported";
  if (const json::Value *v = o->get("logprobs"))
    if (v->kind() != json::Value::Null &&
        !(v->getAsBoolean() && !*v->getAsBoolean()))
      return "logprobs are not supported";
  for (llvm::StringRef key : {"presence_penalty", "frequency_penalty"}) {
    std::optional<double> p;
    if (std::string e = getNumber(*o, key, p); !e.empty())
      return e;
    if (p && *p != 0)
      return ("'" + key + "' is not supported (only 0)").str();
  }
  if (const json::Value *v = o->get("stream")) {
    if (v->kind() != json::Value::Null) {
      std::optional<bool> b = v->getAsBoolean();
      if (!b)
        return "'stream' must be true or false";
      job.stream = *b;
    }
  }

  // The prompt.
  const tok::Tokenizer &tokenizer = model.getTokenizer();
  if (!chat) {
    const json::Value *p = o->get("prompt");
    if (!p)
      return "'prompt' is required";
    if (std::optional<llvm::StringRef> text = p->getAsString()) {
      auto ids = tokenizer.encodePrompt(*text);
      if (!ids)
        return "cannot encode the prompt: " + llvm::toString(ids.takeError());
      job.prompt = std::move(*ids);
    } else if (const json::Array *a = p->getAsArray()) {
      // Token ids (OpenAI's other prompt form).
      for (const json::Value &id : *a) {
        std::optional<int64_t> i = id.getAsInteger();
        if (!i || *i < 0 || *i >= model.getConfig().vocab)
          return "a prompt array must hold token ids in [0, " +
                 std::to_string(model.getConfig().vocab) + ")";
        job.prompt.push_back(static_cast<int32_t>(*i));
      }
    } else {
      return "'prompt' must be a string or an array of token ids";
    }
  } else {
    if (!hasChatTemplate)
      return "the model has no chat template; use /v1/completions";
    const json::Array *messages = o->getArray("messages");
    if (!messages)
      return "'messages' must be an array";
    if (messages->empty())
      return "'messages' must not be empty";
    std::vector<tok::ChatMessage> conversation;
    for (const json::Value &m : *messages) {
      const json::Object *mo = m.getAsObject();
      if (!mo)
        return "each message must be an object";
      std::optional<llvm::StringRef> role = mo->getString("role");
      std::optional<llvm::StringRef> content = mo->getString("content");
      if (!role)
        return "each message needs a 'role' string";
      if (*role != "system" && *role != "user" && *role != "assistant" &&
          *role != "developer")
        return ("unknown role '" + *role + "'").str();
      if (!content)
        return "each message needs a 'content' string";
      conversation.push_back({role->str(), content->str()});
    }
    auto prompt =
        tok::applyChatTemplate(modelPath, tokenizer, conversation, true);
    if (!prompt)
      return "cannot apply the chat template: " +
             llvm::toString(prompt.takeError());
    job.prompt = std::move(prompt->ids);
  }
  int64_t context = engine.getContextLimit();
  int64_t length = static_cast<int64_t>(job.prompt.size());
  if (length == 0)
    return "the prompt is empty";
  if (length >= context)
    return "the prompt's " + std::to_string(length) +
           " tokens leave no room in the context of " +
           std::to_string(context) + " tokens";

  // Limits and sampling.
  std::optional<int64_t> maxTokens;
  for (llvm::StringRef key : {"max_tokens", "max_completion_tokens"})
    if (std::string e = getInteger(*o, key, maxTokens); !e.empty())
      return e;
  job.maxTokens = maxTokens ? *maxTokens : chat ? context - length : 16;
  if (job.maxTokens < 1 || job.maxTokens > context - length)
    return "'max_tokens' must be in [1, " + std::to_string(context - length) +
           "] for this prompt of " + std::to_string(length) +
           " tokens (the context is " + std::to_string(context) + ")";
  std::optional<double> temperature, topP;
  std::optional<int64_t> topK, seed;
  if (std::string e = getNumber(*o, "temperature", temperature); !e.empty())
    return e;
  if (std::string e = getNumber(*o, "top_p", topP); !e.empty())
    return e;
  if (std::string e = getInteger(*o, "top_k", topK); !e.empty())
    return e;
  if (std::string e = getInteger(*o, "seed", seed); !e.empty())
    return e;
  job.sampling.temperature = temperature.value_or(1.0);
  job.sampling.topP = topP.value_or(1.0);
  if (topK && *topK < -1)
    return "'top_k' must be -1 or 0 (all) or positive";
  job.sampling.topK = topK && *topK > 0 ? *topK : 0;
  job.sampling.seed = seed ? static_cast<uint64_t>(*seed)
                           : std::random_device()() * 0x100000001ull;
  if (llvm::Error err = job.sampling.validate())
    return llvm::toString(std::move(err));

  // Stop strings.
  if (const json::Value *s = o->get("stop")) {
    if (std::optional<llvm::StringRef> one = s->getAsString()) {
      job.stops.push_back(one->str());
    } else if (const json::Array *a = s->getAsArray()) {
      for (const json::Value &v : *a) {
        std::optional<llvm::StringRef> str = v.getAsString();
        if (!str)
          return "'stop' must be a string or an array of strings";
        job.stops.push_back(str->str());
      }
    } else if (s->kind() != json::Value::Null) {
      return "'stop' must be a string or an array of strings";
    }
    if (job.stops.size() > 16)
      return "at most 16 stop strings";
    for (const std::string &stop : job.stops)
      if (stop.empty())
        return "stop strings must not be empty";
  }
  return "";
}

llvm::StringRef finishName(tok::EngineFinish reason, bool stopString) {
  if (stopString || reason == tok::EngineFinish::Eos)
    return "stop";
  return "length";
}

void Server::handleGenerate(const httplib::Request &req, httplib::Response &res,
                            bool chat) {
  Clock::time_point start = Clock::now();
  std::string path = req.path;
  if (draining) {
    setError(res, 503, "the server is shutting down");
    logLine("POST " + path + " 503 (shutting down)");
    return;
  }
  auto job = std::make_shared<Job>();
  if (std::string e = parse(req, chat, *job); !e.empty()) {
    setError(res, 400, e);
    logLine("POST " + path + " 400 " + e);
    return;
  }
  if (active.fetch_add(1) >= maxActive) {
    --active;
    std::string e = "too many requests in flight (" +
                    std::to_string(maxActive) + "); retry later";
    setError(res, 503, e);
    logLine("POST " + path + " 503 " + e);
    return;
  }
  auto mailbox = std::make_shared<Mailbox>();
  tok::GenerationRequest request;
  request.prompt = job->prompt;
  request.maxNewTokens = job->maxTokens;
  request.sampling = job->sampling;
  for (int64_t id : model.getConfig().eosTokens)
    if (id >= 0 && id < model.getConfig().vocab)
      request.eos.push_back(static_cast<int32_t>(id));
  auto submitted = engine.submit(std::move(request), mailbox->callback());
  if (!submitted) {
    --active;
    int status = 400;
    std::string message;
    llvm::handleAllErrors(
        submitted.takeError(), [&](const llvm::ErrorInfoBase &e) {
          message = e.message();
          std::error_code ec = e.convertToErrorCode();
          if (ec == std::errc::invalid_argument)
            status = 400;
          else if (ec == std::errc::resource_unavailable_try_again ||
                   ec == std::errc::operation_canceled)
            status = 503;
          else
            status = 500;
        });
    setError(res, status, message);
    logLine("POST " + path + " " + std::to_string(status) + " " + message);
    return;
  }
  uint64_t id = *submitted;
  std::string responseId =
      (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++counter);
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  auto text = std::make_shared<TextStream>(model.getTokenizer(), job->stops);
  int64_t promptTokens = static_cast<int64_t>(job->prompt.size());
  auto usage = [promptTokens](int64_t completion) {
    return json::Object{{"prompt_tokens", promptTokens},
                        {"completion_tokens", completion},
                        {"total_tokens", promptTokens + completion}};
  };
  auto logDone = [=](int status, llvm::StringRef finish) {
    logLine(llvm::formatv(
                "POST {0} {1} id={2} prompt={3} completion={4} "
                "finish={5}{6} {7:f3}s",
                path, status, responseId, promptTokens, text->numTokens(),
                finish, job->stream ? " stream" : "",
                std::chrono::duration<double>(Clock::now() - start).count())
                .str());
  };

  // Runs the request to its end, calling `emit(delta text, token ids)` as
  // text is released; returns the finish reason ("stop", "length",
  // "cancelled": emit failed, or an error message with `failed` set).
  auto drive =
      [this, id, mailbox, text](
          llvm::function_ref<bool(const std::string &, llvm::ArrayRef<int32_t>)>
              emit,
          bool &failed, int &failStatus) -> std::string {
    failed = false;
    while (true) {
      bool done = false;
      tok::EngineFinish reason;
      std::string message;
      std::vector<int32_t> tokens = mailbox->take(done, reason, message);
      if (done && (reason == tok::EngineFinish::Shutdown ||
                   reason == tok::EngineFinish::Error)) {
        failed = true;
        failStatus = reason == tok::EngineFinish::Shutdown ? 503 : 500;
        return reason == tok::EngineFinish::Shutdown
                   ? "the server shut down before the request finished"
                   : "generation failed: " + message;
      }
      auto delta = text->push(tokens, done);
      if (!delta) {
        engine.cancel(id);
        failed = true;
        failStatus = 500;
        return "cannot decode the tokens: " + llvm::toString(delta.takeError());
      }
      if (text->hasStopped())
        engine.cancel(id);
      if ((!delta->empty() || !tokens.empty()) && !emit(*delta, tokens)) {
        engine.cancel(id);
        ++cancelled;
        return "cancelled";
      }
      if (text->hasStopped())
        return "stop";
      if (done)
        return finishName(reason, false).str();
    }
  };

  if (!job->stream) {
    bool failed;
    int failStatus = 500;
    std::string finish =
        drive([](const std::string &, llvm::ArrayRef<int32_t>) { return true; },
              failed, failStatus);
    --active;
    if (failed) {
      setError(res, failStatus, finish);
      logDone(failStatus, "error");
      return;
    }
    std::string content = json::fixUTF8(text->getText());
    json::Array ids;
    for (int32_t t : text->getIds())
      ids.push_back(t);
    json::Object choice{{"index", 0}, {"finish_reason", finish}};
    if (chat) {
      choice["message"] =
          json::Object{{"role", "assistant"}, {"content", content}};
    } else {
      choice["text"] = content;
      choice["logprobs"] = nullptr;
    }
    choice["token_ids"] = std::move(ids);
    json::Object body{
        {"id", responseId},
        {"object", chat ? "chat.completion" : "text_completion"},
        {"created", created},
        {"model", name},
        {"choices", json::Array{std::move(choice)}},
        {"usage", usage(static_cast<int64_t>(text->numTokens()))}};
    res.set_content(toJsonText(std::move(body)), "application/json");
    logDone(200, finish);
    return;
  }

  // Server-sent events.
  auto chunk = [=](json::Object choice) {
    json::Object c{
        {"id", responseId},
        {"object", chat ? "chat.completion.chunk" : "text_completion"},
        {"created", created},
        {"model", name},
        {"choices", json::Array{std::move(choice)}}};
    return c;
  };
  auto sse = [](json::Value v) {
    return "data: " + toJsonText(std::move(v)) + "\n\n";
  };
  auto finished = std::make_shared<std::atomic<bool>>(false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [=](size_t, httplib::DataSink &sink) -> bool {
        auto send = [&](const std::string &data) {
          return sink.is_writable() && sink.write(data.data(), data.size());
        };
        if (chat &&
            !send(sse(chunk(json::Object{
                {"index", 0},
                {"delta", json::Object{{"role", "assistant"}, {"content", ""}}},
                {"finish_reason", nullptr}})))) {
          engine.cancel(id);
          ++cancelled;
          *finished = true;
          logDone(200, "cancelled");
          return false;
        }
        bool failed;
        int failStatus = 500;
        std::string finish = drive(
            [&](const std::string &delta, llvm::ArrayRef<int32_t> ids) {
              json::Array idArray;
              for (int32_t t : ids)
                idArray.push_back(t);
              json::Object choice{{"index", 0}, {"finish_reason", nullptr}};
              if (chat)
                choice["delta"] = json::Object{{"content", delta}};
              else {
                choice["text"] = delta;
                choice["logprobs"] = nullptr;
              }
              choice["token_ids"] = std::move(idArray);
              return send(sse(chunk(std::move(choice))));
            },
            failed, failStatus);
        *finished = true;
        if (finish == "cancelled") {
          logDone(200, "cancelled");
          return false;
        }
        bool ok;
        if (failed) {
          json::Object error{{"message", finish},
                             {"type", "server_error"},
                             {"param", nullptr},
                             {"code", nullptr}};
          ok = send(sse(json::Object{{"error", std::move(error)}}));
        } else {
          json::Object choice{{"index", 0}, {"finish_reason", finish}};
          if (chat)
            choice["delta"] = json::Object{};
          else {
            choice["text"] = "";
            choice["logprobs"] = nullptr;
          }
          json::Object last = chunk(std::move(choice));
          last["usage"] = usage(static_cast<int64_t>(text->numTokens()));
          ok = send(sse(std::move(last)));
        }
        ok = ok && send("data: [DONE]\n\n");
        logDone(200, failed ? "error" : finish);
        if (ok)
          sink.done();
        return ok;
      },
      [=](bool) {
        // The connection is over, the request maybe not (the provider
        // never ran, or stopped early).
        if (!*finished) {
          engine.cancel(id);
          ++cancelled;
          logDone(200, "cancelled");
        }
        --active;
      });
}

void Server::handleMetrics(httplib::Response &res) {
  tok::EngineMetrics m = engine.getMetrics();
  std::string out;
  auto metric = [&](llvm::StringRef name, llvm::StringRef type,
                    llvm::StringRef help, const std::string &value) {
    out += ("# HELP " + name + " " + help + "\n# TYPE " + name + " " + type +
            "\n" + name + " " + value + "\n")
               .str();
  };
  auto i = [](int64_t v) { return std::to_string(v); };
  metric("tok_requests_total", "counter", "Generation requests accepted.",
         i(m.requestsTotal));
  metric("tok_requests_running", "gauge", "Requests holding KV pages.",
         i(m.requestsRunning));
  metric("tok_requests_waiting", "gauge", "Requests waiting to run.",
         i(m.requestsWaiting));
  metric("tok_requests_cancelled_total", "counter",
         "Requests whose client went away.", i(cancelled));
  metric("tok_generated_tokens_total", "counter", "Tokens generated.",
         i(m.generatedTokens));
  metric("tok_prompt_tokens_total", "counter",
         "Prompt tokens of the requests accepted.", i(m.promptTokens));
  metric("tok_prefix_hit_tokens_total", "counter",
         "Prompt tokens whose KV came from cached pages.",
         i(m.prefixHitTokens));
  metric("tok_kv_pages_used", "gauge", "KV pages held by sequences.",
         i(m.pagesUsed));
  metric("tok_kv_pages_free", "gauge", "KV pages free.", i(m.pagesFree));
  metric("tok_kv_pages_held", "gauge",
         "KV pages running sequences hold (not the prefix cache's alone).",
         i(m.pagesHeld));
  metric("tok_kv_window_released_pages_total", "counter",
         "KV pages released behind a sequence's window (tok-kv-evict).",
         i(m.windowReleasedPages));
  metric("tok_kv_pages_cached", "gauge", "KV pages in the prefix cache.",
         i(m.pagesCached));
  metric("tok_preemptions_total", "counter",
         "Sequences preempted (to be recomputed).", i(m.preemptions));
  metric("tok_steps_total", "counter", "Batch steps run.", i(m.steps));
  metric("tok_step_seconds_sum", "counter", "Seconds spent in batch steps.",
         llvm::formatv("{0:f6}", m.stepSeconds).str());
  res.set_content(out, "text/plain; version=0.0.4");
}

void Server::install(httplib::Server &http) {
  http.Post("/v1/completions",
            [this](const httplib::Request &req, httplib::Response &res) {
              handleGenerate(req, res, /*chat=*/false);
            });
  http.Post("/v1/chat/completions",
            [this](const httplib::Request &req, httplib::Response &res) {
              handleGenerate(req, res, /*chat=*/true);
            });
  http.Get("/v1/models",
           [this](const httplib::Request &, httplib::Response &res) {
             json::Object m{{"id", name},
                            {"object", "model"},
                            {"created", 0},
                            {"owned_by", "tok"},
                            {"max_model_len", engine.getContextLimit()}};
             res.set_content(
                 toJsonText(json::Object{{"object", "list"},
                                         {"data", json::Array{std::move(m)}}}),
                 "application/json");
           });
  http.Get("/health", [this](const httplib::Request &, httplib::Response &res) {
    if (draining) {
      setError(res, 503, "shutting down");
      return;
    }
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request &,
                              httplib::Response &res) { handleMetrics(res); });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request &req, httplib::Response &res) {
        if (!res.body.empty())
          return httplib::Server::HandlerResponse::Unhandled;
        std::string message =
            res.status == 404
                ? "no such endpoint: " + req.method + " " + req.path
            : res.status == 413 ? "the request body is too large"
                                : "bad request";
        int status = res.status;
        setError(res, status, message);
        return httplib::Server::HandlerResponse::Handled;
      }));
  http.set_logger(
      [](const httplib::Request &req, const httplib::Response &res) {
        // Generation requests log themselves (with their token counts), but
        // for those cpp-httplib refuses before they reach a handler.
        bool generation =
            req.path == "/v1/completions" || req.path == "/v1/chat/completions";
        if (generation && res.status != 413)
          return;
        logLine(req.method + " " + req.path + " " + std::to_string(res.status));
      });
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  tok::initializeDriver();
  DialectRegistry registry;
  tok::registerDriverDialects(registry);
  cl::HideUnrelatedOptions(serveCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-serve: an OpenAI-compatible HTTP server for one model\n\n"
      "  tok-serve --model M [--port 8080] [--host 127.0.0.1] ...\n\n"
      "Endpoints:\n"
      "  POST /v1/completions        {prompt, max_tokens, temperature, "
      "top_p, top_k, seed, stop, stream}\n"
      "  POST /v1/chat/completions   {messages: [{role, content}], ...} "
      "(the model's chat template)\n"
      "  GET  /v1/models, /health, /metrics (Prometheus text)\n\n"
      "Requests share batch steps (continuous batching over paged KV "
      "memory); each samples with its own seeded stream, so its tokens do "
      "not depend on the others. SIGTERM / SIGINT: refuse new requests, "
      "let in-flight ones finish (--drain-s), exit 0. docs/serving.md has "
      "the details.\n");

  // SIGTERM and SIGINT are waited for by a thread of their own (blocked
  // here, before any thread starts, so that every thread inherits the
  // mask); a write to a closed connection is an error, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto fail = [](const llvm::Twine &message) {
    llvm::errs() << "tok-serve: " << message << "\n";
    return 1;
  };
  if (port < 0 || port > 65535)
    return fail("--port must be in [0, 65535]");
  if (maxBodyBytes <= 0 || timeoutSeconds <= 0 || drainSeconds < 0 ||
      maxQueue <= 0 || maxSequences <= 0)
    return fail("--max-body-bytes, --timeout-s, --max-queue and "
                "--max-sequences must be positive, --drain-s not negative");
  auto opened = tok::LlamaModel::open(modelPath, tokenizerPath);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  tok::LlamaModel &model = **opened;
  const tok::LlamaConfig &config = model.getConfig();
  bool hasChatTemplate = false;
  if (modelPath != "builtin") {
    auto found = tok::findChatTemplate(modelPath);
    hasChatTemplate = static_cast<bool>(found);
    if (!found)
      llvm::consumeError(found.takeError());
  }
  int64_t context = contextSize ? contextSize.getValue()
                                : std::min<int64_t>(config.maxPositions, 4096);
  if (context <= 1 || context > config.maxPositions)
    return fail("--context must be in [2, " + llvm::Twine(config.maxPositions) +
                "]");

  MLIRContext mlirContext(registry);
  mlirContext.printOpOnDiagnostic(false);
  tok::EngineSettings settings;
  settings.batch.pageSize = pageSize;
  settings.batch.pages = kvPages;
  settings.batch.maxTokensPerStep = maxStepTokens;
  settings.batch.maxSequences = std::min<int64_t>(maxSequences, maxStepTokens);
  settings.batch.contextLimit = context;
  settings.batch.optLevel = optLevel;
  settings.batch.prefixCaching = !noPrefixCache;
  settings.batch.pipeline = passPipeline;
  // Requests in flight are bounded by the server (maxActive below); the
  // engine's own bound only backs it up.
  settings.maxWaiting = maxSequences + maxQueue;
  auto created = tok::ServingEngine::create(mlirContext, model, settings);
  if (!created)
    return fail(llvm::toString(created.takeError()));
  tok::ServingEngine &engine = **created;

  std::string name = modelName;
  if (name.empty())
    name =
        modelPath == "builtin"
            ? "builtin"
            : llvm::sys::path::filename(llvm::StringRef(modelPath).rtrim("/"))
                  .str();
  int64_t maxActive = maxSequences + maxQueue;
  Server server(engine, model, name, hasChatTemplate, maxActive);
  httplib::Server http;
  size_t threads = static_cast<size_t>(maxActive) + 8;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(static_cast<size_t>(maxBodyBytes));
  http.set_read_timeout(timeoutSeconds);
  http.set_write_timeout(timeoutSeconds);
  server.install(http);

  int bound = port;
  if (port == 0) {
    bound = http.bind_to_any_port(host);
    if (bound < 0)
      return fail("cannot listen on " + host + ":" + llvm::Twine(port));
  } else if (!http.bind_to_port(host, port)) {
    return fail("cannot listen on " + host + ":" + llvm::Twine(port));
  }
  logLine(llvm::formatv("{0} ({1} layers, vocabulary {2}) compiled in "
                        "{3:f2} s; {4} KV pages of {5} slots, context {6}, "
                        "{7} sequences per step; listening on http://{8}:{9}",
                        name, config.layers, config.vocab,
                        engine.getCompileSeconds(), engine.getPages(),
                        pageSize.getValue(), context,
                        settings.batch.maxSequences, host.getValue(), bound)
              .str());

  std::atomic<bool> signalled{false}, listenEnded{false};
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (listenEnded) // woken by main: listening failed
      return;
    signalled = true;
    logLine(llvm::formatv("{0}: draining {1} requests (at most {2} s)",
                          sig == SIGTERM ? "SIGTERM" : "SIGINT",
                          server.numActive(), drainSeconds.getValue())
                .str());
    server.beginDrain();
    Clock::time_point deadline =
        Clock::now() + std::chrono::seconds(drainSeconds.getValue());
    while (server.numActive() > 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (server.numActive() > 0) {
      logLine(llvm::formatv("cutting {0} requests short", server.numActive())
                  .str());
      engine.shutdown(/*drain=*/false);
      Clock::time_point end = Clock::now() + std::chrono::seconds(2);
      while (server.numActive() > 0 && Clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    http.stop();
  });
  http.listen_after_bind();
  if (!signalled) {
    listenEnded = true;
    pthread_kill(waiter.native_handle(), SIGTERM);
  }
  waiter.join();
  engine.shutdown(/*drain=*/false);
  logLine(signalled ? "stopped" : "the listening socket failed");
  return signalled ? 0 : 1;
}
