//===- OutputFile.h - outputs that never replace an input -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// How tok's tools write their outputs: never onto a file the user gave as
// an input (`tok-import m.bin -o m.bin` would otherwise replace the model
// with MLIR text), and atomically: the content goes to a temporary file
// beside the target, renamed over it only once completely written, so a
// failed or interrupted write leaves whatever was there before.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_SUPPORT_OUTPUTFILE_H
#define TOK_SUPPORT_OUTPUTFILE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>

namespace mlir::tok {

/// Whether `path` names a file of the kinds tok reads from a model
/// directory (configs, weights, tokenizers).
inline bool isModelFileName(llvm::StringRef path) {
  llvm::StringRef ext = llvm::sys::path::extension(path);
  return ext == ".json" || ext == ".safetensors" || ext == ".bin" ||
         ext == ".gguf" || ext == ".model";
}

/// An error if `output` is one of `inputs` (the same file by any path), or
/// an existing model file (a config, weights, a tokenizer) in the directory
/// of an input: the input itself if it is a directory (a model's), else
/// the one it lies in (its config, weights and tokenizer lie beside it).
/// Inputs that are not paths (`builtin`, `-`) are skipped.
inline llvm::Error checkOutputIsNotAnInput(llvm::StringRef output,
                                           llvm::ArrayRef<std::string> inputs) {
  if (output == "-" || output.empty())
    return llvm::Error::success();
  bool outputIsModelFile =
      isModelFileName(output) && llvm::sys::fs::exists(output);
  llvm::StringRef outputDir = llvm::sys::path::parent_path(output);
  if (outputDir.empty())
    outputDir = ".";
  for (const std::string &input : inputs) {
    if (input.empty() || input == "-" || !llvm::sys::fs::exists(input))
      continue;
    if (llvm::sys::fs::equivalent(output, input))
      return llvm::createStringError("the output '" + output +
                                     "' is the input '" + input +
                                     "'; tok never writes over an input");
    llvm::StringRef dir = llvm::sys::fs::is_directory(input)
                              ? llvm::StringRef(input)
                              : llvm::sys::path::parent_path(input);
    if (dir.empty())
      dir = ".";
    if (outputIsModelFile && llvm::sys::fs::equivalent(outputDir, dir))
      return llvm::createStringError(
          "the output '" + output + "' is a model file beside the input '" +
          input + "'; tok never writes over an input");
  }
  return llvm::Error::success();
}

/// Writes `output` ("-": standard output) through `write`, atomically (a
/// temporary file beside it, renamed when complete), after refusing an
/// output that is one of `inputs`.
inline llvm::Error
writeOutputFile(llvm::StringRef output, llvm::ArrayRef<std::string> inputs,
                std::function<llvm::Error(llvm::raw_ostream &)> write) {
  if (llvm::Error err = checkOutputIsNotAnInput(output, inputs))
    return err;
  return llvm::writeToOutput(output, std::move(write));
}

} // namespace mlir::tok

#endif // TOK_SUPPORT_OUTPUTFILE_H
