# -*- Python -*-
# The GoogleTest unit tests of tok, run by lit so that one lit invocation
# counts them together with the FileCheck suite.

import lit.formats

config.name = "tok-unit"
config.test_format = lit.formats.GoogleTest(".", "Tests")
config.test_source_root = config.tok_unit_obj_root
config.test_exec_root = config.tok_unit_obj_root
