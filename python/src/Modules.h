//===- Modules.h - tok.compile and tok.Module -------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PYTHON_MODULES_H
#define TOK_PYTHON_MODULES_H

#include <nanobind/nanobind.h>

namespace tokpy {

/// Adds compile() and the Module class to `m`.
void bindModules(nanobind::module_ &m);

} // namespace tokpy

#endif // TOK_PYTHON_MODULES_H
