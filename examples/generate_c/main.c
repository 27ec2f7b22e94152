/* Generates text with a model compiled ahead of time by tok-compile: no
 * MLIR, no JIT, just the library, its header and the weights file.
 *
 *   build/bin/tok-compile --model builtin -o out            # tok_model.*
 *   cc examples/generate_c/main.c -Iout -Lout -ltok_model -Wl,-rpath,out
 *   ./a.out out/tok_model.weights "def fibonacci(n):"
 *
 * The prompt is taken as bytes (token id = byte), the tokenizer of the
 * built-in model and of byte-level models such as pyllama-4m. Prints the
 * continuation as it is generated, then the generated ids. */
#include "tok_model.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void print_token(int32_t token, int64_t index, void *user) {
  (void)index;
  (void)user;
  if (isprint(token) || token == '\n' || token == '\t')
    putchar(token);
  else
    printf("\\x%02x", (unsigned)token);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s WEIGHTS PROMPT\n", argv[0]);
    return 2;
  }
  tok_model *model = tok_model_load(argv[1]);
  if (!model) {
    fprintf(stderr, "error: %s\n", tok_model_last_error());
    return 1;
  }
  int32_t prompt[TOK_MODEL_CACHE_CAPACITY];
  int64_t n = (int64_t)strlen(argv[2]);
  if (n > TOK_MODEL_CACHE_CAPACITY)
    n = TOK_MODEL_CACHE_CAPACITY; /* generate reports that it is too long */
  for (int64_t i = 0; i < n; ++i)
    prompt[i] = (unsigned char)argv[2][i];
  fputs(argv[2], stdout);
  int32_t out[TOK_MODEL_MAX_NEW_TOKENS];
  int64_t count = tok_model_generate(model, prompt, n, out, print_token, NULL);
  if (count < 0) {
    fprintf(stderr, "\nerror: %s\n", tok_model_last_error());
    tok_model_free(model);
    return 1;
  }
  printf("\nids:");
  for (int64_t i = 0; i < count; ++i)
    printf(" %d", out[i]);
  printf("\n");
  tok_model_free(model);
  return 0;
}
