// 20 tokens into a cache that quantizes all but 4 (group 4): slots [0, 16)
// are codes. Dropping 4 slots is a rollback of the tail; dropping 5 would
// reach quantized slots and stops with an error.
!cache = !tok.kv_cache<1x32x16xf32, quant = #tok.kv_quant<bits = 8, group = 4, residual = 4>>
func.func private @printI64(i64)
func.func @main() {
  %c = tok.kv.empty : !cache
  %k = arith.constant dense<0.5> : tensor<1x20x16xf32>
  %p = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32>
  %c1 = tok.kv.append %c, %k, %k, %p : !cache, tensor<1x20x16xf32>, tensor<1x20x16xf32>, tensor<20xi32>
  %four = arith.constant 4 : index
  %c2 = tok.kv.truncate %c1, %four : !cache
  %n2 = tok.kv.length %c2 : !cache
  %i2 = arith.index_cast %n2 : index to i64
  call @printI64(%i2) : (i64) -> ()
  %one = arith.constant 1 : index
  %c3 = tok.kv.truncate %c2, %one : !cache
  %n3 = tok.kv.length %c3 : !cache
  %i3 = arith.index_cast %n3 : index to i64
  call @printI64(%i3) : (i64) -> ()
  return
}
