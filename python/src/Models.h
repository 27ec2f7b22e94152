//===- Models.h - tok.Model: decoders and encoders --------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PYTHON_MODELS_H
#define TOK_PYTHON_MODELS_H

#include <nanobind/nanobind.h>

namespace tokpy {

/// Adds the Decoder, Encoder and Stream classes to `m`.
void bindModels(nanobind::module_ &m);

} // namespace tokpy

#endif // TOK_PYTHON_MODELS_H
