// RUN: tok-opt %s --tok-approximate-math | FileCheck %s

// f32 exp, vector or scalar, becomes arithmetic (range reduction, a
// polynomial, the exponent built in integer bits): no call to expf is
// left for LLVM to scalarize.
// CHECK-LABEL: func.func @exp_f32
// CHECK-NOT:   math.exp
// CHECK:       math.fma {{.*}} : vector<16xf32>
// CHECK:       arith.bitcast {{.*}} : vector<16xi32> to vector<16xf32>
// CHECK-NOT:   math.exp
// CHECK:       math.fma {{.*}} : f32
// CHECK-NOT:   math.exp
// CHECK:       return
func.func @exp_f32(%v: vector<16xf32>, %s: f32) -> (vector<16xf32>, f32) {
  %0 = math.exp %v : vector<16xf32>
  %1 = math.exp %s : f32
  return %0, %1 : vector<16xf32>, f32
}

// Other math and other widths are left alone.
// CHECK-LABEL: func.func @others
// CHECK:       math.exp %{{.*}} : f64
// CHECK:       math.log %{{.*}} : f32
func.func @others(%d: f64, %s: f32) -> (f64, f32) {
  %0 = math.exp %d : f64
  %1 = math.log %s : f32
  return %0, %1 : f64, f32
}
