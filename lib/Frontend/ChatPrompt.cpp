//===- ChatPrompt.cpp - a model's chat template and its prompt ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Finding a model's chat template (Hugging Face files, GGUF metadata),
// rendering a conversation with it and encoding the text (ChatPrompt.h).
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/ChatPrompt.h"
#include "FileError.h"
#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/Tokenizer.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <ctime>
#include <optional>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

//===----------------------------------------------------------------------===//
// Finding a model's template
//===----------------------------------------------------------------------===//

static llvm::Expected<std::string> readText(const Twine &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return fileError(path, "cannot read: " + buffer.getError().message());
  return (*buffer)->getBuffer().str();
}

static llvm::Expected<ModelChatTemplate> findGgufTemplate(StringRef path) {
  auto file = GgufFile::open(path);
  if (!file)
    return file.takeError();
  ModelChatTemplate result;
  result.name = (path + ":tokenizer.chat_template").str();
  if (!(*file)->lookup("tokenizer.chat_template"))
    return fileError(path, "no chat template (the GGUF metadata has no "
                           "tokenizer.chat_template)");
  auto source = (*file)->getString("tokenizer.chat_template");
  if (!source)
    return source.takeError();
  result.source = source->str();
  // BOS and EOS as text, when the vocabulary is there.
  auto tokens = (*file)->getStringArray("tokenizer.ggml.tokens");
  if (!tokens) {
    llvm::consumeError(tokens.takeError());
    return result;
  }
  for (auto [key, name] : {std::pair<StringRef, StringRef>{
                               "tokenizer.ggml.bos_token_id", "bos_token"},
                           {"tokenizer.ggml.eos_token_id", "eos_token"},
                           {"tokenizer.ggml.unknown_token_id", "unk_token"},
                           {"tokenizer.ggml.padding_token_id", "pad_token"}}) {
    if (!(*file)->lookup(key))
      continue;
    auto id = (*file)->getInteger(key);
    if (!id)
      return id.takeError();
    if (*id >= 0 && *id < static_cast<int64_t>(tokens->size()))
      result.specialTokens[name] = (*tokens)[*id].str();
  }
  // Unknown (2), control (3) and user-defined (4) tokens: llama.cpp
  // matches them in a chat prompt's text.
  if ((*file)->lookup("tokenizer.ggml.token_type")) {
    auto types = (*file)->getIntegerArray("tokenizer.ggml.token_type");
    if (!types)
      return types.takeError();
    for (size_t i = 0; i < types->size() && i < tokens->size(); ++i)
      if ((*types)[i] >= 2 && (*types)[i] <= 4 && !(*tokens)[i].empty())
        result.controlTokens.push_back(
            {(*tokens)[i].str(), static_cast<int32_t>(i)});
  }
  return result;
}

llvm::Expected<ModelChatTemplate> mlir::tok::findChatTemplate(StringRef path) {
  if (path.ends_with(".gguf") ||
      (llvm::sys::fs::is_regular_file(path) && !path.ends_with(".json"))) {
    auto magic = llvm::MemoryBuffer::getFileSlice(path, 4, 0);
    if (path.ends_with(".gguf") ||
        (magic && GgufFile::hasMagic((*magic)->getBuffer())))
      return findGgufTemplate(path);
    return fileError(path, "no chat template: chat templates come with "
                           "Hugging Face directories and GGUF files");
  }
  llvm::SmallString<256> dir(path);
  if (!llvm::sys::fs::is_directory(path)) {
    if (!path.ends_with(".json"))
      return fileError(path, "no chat template: chat templates come with "
                             "Hugging Face directories and GGUF files");
    dir = llvm::sys::path::parent_path(path);
    if (dir.empty())
      dir = ".";
  }
  ModelChatTemplate result;
  llvm::SmallString<256> configPath(dir), jinjaPath(dir), mapPath(dir);
  llvm::sys::path::append(configPath, "tokenizer_config.json");
  llvm::sys::path::append(jinjaPath, "chat_template.jinja");
  llvm::sys::path::append(mapPath, "special_tokens_map.json");

  std::optional<llvm::json::Value> config;
  if (llvm::sys::fs::exists(configPath)) {
    auto text = readText(configPath);
    if (!text)
      return text.takeError();
    auto parsed = parseJson(*text);
    if (!parsed)
      return fileError(configPath,
                       "malformed JSON: " + llvm::toString(parsed.takeError()));
    if (!parsed->getAsObject())
      return fileError(configPath, "expected a JSON object");
    config = std::move(*parsed);
  }
  const llvm::json::Object *obj = config ? config->getAsObject() : nullptr;

  if (llvm::sys::fs::exists(jinjaPath)) {
    auto text = readText(jinjaPath);
    if (!text)
      return text.takeError();
    result.source = std::move(*text);
    result.name = jinjaPath.str().str();
  } else if (const llvm::json::Value *t =
                 obj ? obj->get("chat_template") : nullptr) {
    result.name = configPath.str().str();
    if (std::optional<StringRef> s = t->getAsString()) {
      result.source = s->str();
    } else if (const llvm::json::Array *list = t->getAsArray()) {
      std::string names;
      for (const llvm::json::Value &entry : *list) {
        const llvm::json::Object *e = entry.getAsObject();
        std::optional<StringRef> name = e ? e->getString("name") : std::nullopt;
        std::optional<StringRef> tmpl =
            e ? e->getString("template") : std::nullopt;
        if (!name || !tmpl)
          return fileError(configPath, "chat_template: a list entry needs a "
                                       "'name' and a 'template' string");
        names += (names.empty() ? "" : ", ") + name->str();
        if (*name == "default") {
          result.source = tmpl->str();
          result.name += ":default";
        }
      }
      if (result.source.empty())
        return fileError(configPath, "chat_template lists no 'default' "
                                     "template (it has: " +
                                         names + ")");
    } else {
      return fileError(configPath,
                       "chat_template must be a string or a list of {name, "
                       "template}");
    }
  } else {
    return fileError(dir, "no chat template: neither chat_template.jinja nor "
                          "a chat_template in tokenizer_config.json");
  }

  // The special tokens: tokenizer_config.json, then special_tokens_map.json
  // for those it lacks.
  auto addTokens = [&](const llvm::json::Object &o) {
    for (StringRef key : {"bos_token", "eos_token", "unk_token", "sep_token",
                          "pad_token", "cls_token", "mask_token"}) {
      if (result.specialTokens.get(key))
        continue;
      const llvm::json::Value *v = o.get(key);
      if (!v)
        continue;
      if (std::optional<StringRef> s = v->getAsString())
        result.specialTokens[key] = s->str();
      else if (const llvm::json::Object *t = v->getAsObject())
        if (std::optional<StringRef> s = t->getString("content"))
          result.specialTokens[key] = s->str();
    }
  };
  if (obj)
    addTokens(*obj);
  if (llvm::sys::fs::exists(mapPath)) {
    auto text = readText(mapPath);
    if (!text)
      return text.takeError();
    auto parsed = parseJson(*text);
    if (!parsed)
      return fileError(mapPath,
                       "malformed JSON: " + llvm::toString(parsed.takeError()));
    if (const llvm::json::Object *o = parsed->getAsObject())
      addTokens(*o);
  }
  return result;
}

llvm::Expected<std::vector<int32_t>> mlir::tok::encodeChatText(
    const Tokenizer &tokenizer, StringRef text,
    llvm::ArrayRef<std::pair<std::string, int32_t>> controlTokens) {
  if (controlTokens.empty())
    return tokenizer.encode(text);
  // llama.cpp's tokenizer_st_partition: the tokens sorted longest first
  // (its sort is not stable; equal lengths go by id here), each splitting
  // the raw fragments that the tokens before it left, finding its
  // occurrences in each left to right. A token's occurrence is taken when
  // no earlier token covers any of its bytes (it then lies within one
  // raw fragment) and it starts after this token's previous one.
  //
  // The occurrences of all tokens come from a byte trie walked from each
  // position of the text: O(text length x longest token).
  struct TrieNode {
    std::vector<std::pair<unsigned char, uint32_t>> next;
    int32_t token = -1; // index into `order`
  };
  std::vector<size_t> order;
  for (size_t k = 0; k < controlTokens.size(); ++k)
    if (!controlTokens[k].first.empty())
      order.push_back(k);
  llvm::sort(order, [&](size_t a, size_t b) {
    const auto &x = controlTokens[a], &y = controlTokens[b];
    if (x.first.size() != y.first.size())
      return x.first.size() > y.first.size();
    return x.second != y.second ? x.second < y.second : a < b;
  });
  std::vector<TrieNode> trie(1);
  for (size_t r = 0; r < order.size(); ++r) {
    uint32_t node = 0;
    for (char ch : controlTokens[order[r]].first) {
      auto c = static_cast<unsigned char>(ch);
      uint32_t child = 0;
      for (const auto &[b, n] : trie[node].next)
        if (b == c)
          child = n;
      if (!child) {
        child = static_cast<uint32_t>(trie.size());
        trie[node].next.push_back({c, child});
        trie.emplace_back();
      }
      node = child;
    }
    if (trie[node].token < 0) // the same text twice: the first one
      trie[node].token = static_cast<int32_t>(r);
  }
  // Occurrences (rank, position), then by rank and position.
  std::vector<std::pair<uint32_t, size_t>> found;
  for (size_t i = 0; i < text.size(); ++i) {
    uint32_t node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto c = static_cast<unsigned char>(text[j]);
      uint32_t child = 0;
      for (const auto &[b, n] : trie[node].next)
        if (b == c)
          child = n;
      if (!child)
        break;
      node = child;
      if (trie[node].token >= 0)
        found.push_back({static_cast<uint32_t>(trie[node].token), i});
    }
  }
  llvm::sort(found);
  // covered[i]: whether a token took byte i.
  std::vector<bool> covered(text.size(), false);
  struct Taken {
    size_t pos, size;
    int32_t id;
  };
  std::vector<Taken> taken;
  size_t end = 0;
  uint32_t lastRank = UINT32_MAX;
  for (const auto &[rank, pos] : found) {
    const auto &token = controlTokens[order[rank]];
    if (rank != lastRank) {
      lastRank = rank;
      end = 0;
    }
    if (pos < end)
      continue;
    bool free = true;
    for (size_t k = pos; k < pos + token.first.size() && free; ++k)
      free = !covered[k];
    if (!free)
      continue;
    for (size_t k = pos; k < pos + token.first.size(); ++k)
      covered[k] = true;
    taken.push_back({pos, token.first.size(), token.second});
    end = pos + token.first.size();
  }
  llvm::sort(taken,
             [](const Taken &a, const Taken &b) { return a.pos < b.pos; });

  std::vector<int32_t> ids;
  auto encodeRaw = [&](size_t from, size_t to) -> llvm::Error {
    if (from == to)
      return llvm::Error::success();
    auto piece = tokenizer.encode(text.slice(from, to));
    if (!piece)
      return piece.takeError();
    ids.insert(ids.end(), piece->begin(), piece->end());
    return llvm::Error::success();
  };
  size_t start = 0;
  for (const Taken &t : taken) {
    if (llvm::Error err = encodeRaw(start, t.pos))
      return std::move(err);
    ids.push_back(t.id);
    start = t.pos + t.size;
  }
  if (llvm::Error err = encodeRaw(start, text.size()))
    return std::move(err);
  return ids;
}

llvm::Expected<ChatPrompt>
mlir::tok::applyChatTemplate(StringRef modelPath, const Tokenizer &tokenizer,
                             llvm::ArrayRef<ChatMessage> messages,
                             bool addGenerationPrompt) {
  auto found = findChatTemplate(modelPath);
  if (!found)
    return found.takeError();
  auto chat = ChatTemplate::parse(found->source, found->name);
  if (!chat)
    return chat.takeError();
  std::time_t now = std::time(nullptr);
  std::tm local = {};
  localtime_r(&now, &local);
  chat->setNow(local);
  auto text = chat->render(messages, addGenerationPrompt, found->specialTokens);
  if (!text)
    return text.takeError();
  auto ids = encodeChatText(tokenizer, *text, found->controlTokens);
  if (!ids)
    return ids.takeError();
  return ChatPrompt{std::move(*text), std::move(*ids)};
}
