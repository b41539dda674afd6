// The N-API side of the native kernels (kernels.h), the only file that knows of JavaScript. Every
// kernel is called one way:
//
//   kernel(arrays, params)
//
// arrays: an object of Float32Arrays by name (the kernel's inputs, as tfjs names them, then its
// outputs; row indices as Int32Arrays); params: an object of ints, the fields of the kernel family's struct in
// params.h, with the same names (the interfaces in src/kernels/native.ts). Before a kernel runs, every field is checked
// to be a non-negative int and every array to hold exactly the floats the params imply: a mismatch throws a RangeError
// naming the kernel and the field or array, never a read or write out of bounds.
#include <node_api.h>
#include <omp.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "kernels.h"
#include "params.h"

namespace fewshot {
namespace {

// One field of a params struct: its name in JavaScript, which is its name in C++ (FIELD).
template <class P>
struct Field {
  const char* name;
  int P::*member;
};
template <class P>
constexpr Field<P> field(const char* name, int P::*member) {
  return {name, member};
}
#define FIELD(P, f) field(#f, &P::f)

// Each struct's fields, all of them (the static_asserts count them).
constexpr Field<ConvParams> kConvFields[] = {
    FIELD(ConvParams, n),        FIELD(ConvParams, h),      FIELD(ConvParams, w),         FIELD(ConvParams, cin),
    FIELD(ConvParams, kh),       FIELD(ConvParams, kw),     FIELD(ConvParams, cout),      FIELD(ConvParams, outHeight),
    FIELD(ConvParams, outWidth), FIELD(ConvParams, padTop), FIELD(ConvParams, padBottom), FIELD(ConvParams, padLeft),
    FIELD(ConvParams, padRight),
};
constexpr Field<PoolParams> kPoolFields[] = {
    FIELD(PoolParams, n),
    FIELD(PoolParams, h),
    FIELD(PoolParams, w),
    FIELD(PoolParams, c),
    FIELD(PoolParams, outHeight),
    FIELD(PoolParams, outWidth),
    FIELD(PoolParams, filterHeight),
    FIELD(PoolParams, filterWidth),
    FIELD(PoolParams, strideHeight),
    FIELD(PoolParams, strideWidth),
    FIELD(PoolParams, padTop),
    FIELD(PoolParams, padLeft),
};
constexpr Field<BatchNormParams> kBatchNormFields[] = {
    FIELD(BatchNormParams, n),
    FIELD(BatchNormParams, h),
    FIELD(BatchNormParams, w),
    FIELD(BatchNormParams, c),
};
constexpr Field<RkdParams> kRkdFields[] = {
    FIELD(RkdParams, n),
    FIELD(RkdParams, dimS),
    FIELD(RkdParams, dimT),
};
constexpr Field<ProtoLogitsParams> kProtoLogitsFields[] = {
    FIELD(ProtoLogitsParams, rows), FIELD(ProtoLogitsParams, dim),  FIELD(ProtoLogitsParams, n),
    FIELD(ProtoLogitsParams, way),  FIELD(ProtoLogitsParams, shot), FIELD(ProtoLogitsParams, query),
};
#undef FIELD

template <class P, size_t N>
constexpr bool all_fields(const Field<P> (&)[N]) {
  return N * sizeof(int) == sizeof(P);
}
static_assert(all_fields(kConvFields), "a ConvParams field is not read");
static_assert(all_fields(kPoolFields), "a PoolParams field is not read");
static_assert(all_fields(kBatchNormFields), "a BatchNormParams field is not read");
static_assert(all_fields(kRkdFields), "an RkdParams field is not read");
static_assert(all_fields(kProtoLogitsFields), "a ProtoLogitsParams field is not read");

// One call from JavaScript: its two arguments, read and checked. After the first failure (a
// RangeError thrown) the rest read as nothing, and ok() tells the kernel not to run.
class Call {
 public:
  Call(napi_env env, napi_callback_info info, const char* kernel) : env_(env), kernel_(kernel) {
    size_t argc = 2;
    napi_value argv[2] = {nullptr, nullptr};
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    arrays_ = argv[0];
    params_ = argv[1];
    if (argc != 2) fail("expected (arrays, params), got " + std::to_string(argc) + " arguments");
    else if (!is_object(arrays_)) fail("arrays is not an object");
    else if (!is_object(params_)) fail("params is not an object");
  }

  bool ok() const { return ok_; }

  void fail(const std::string& what) {
    if (!ok_) return;
    ok_ = false;
    napi_throw_range_error(env_, nullptr, (std::string(kernel_) + ": " + what).c_str());
  }

  // The params struct, every field a non-negative int32.
  template <class P, size_t N>
  P params(const Field<P> (&fields)[N]) {
    P p{};
    for (const Field<P>& f : fields) {
      if (!ok_) break;
      napi_value v;
      double d = -1;
      napi_valuetype type = napi_undefined;
      if (napi_get_named_property(env_, params_, f.name, &v) == napi_ok) napi_typeof(env_, v, &type);
      if (type == napi_number) napi_get_value_double(env_, v, &d);
      if (!(d >= 0 && d <= 2147483647.0 && d == std::floor(d))) {
        fail(std::string("params.") + f.name + " is not a non-negative int");
        break;
      }
      p.*f.member = (int)d;
    }
    return p;
  }

  // The number of floats of an array of these dims; a failure when it does not fit in size_t.
  size_t count(std::initializer_list<int> dims) {
    size_t total = 1;
    for (int d : dims)
      if (__builtin_mul_overflow(total, (size_t)d, &total)) {
        fail("the params give an array too large to address");
        return 0;
      }
    return total;
  }

  // arrays[name], a Float32Array of exactly `want` floats.
  float* array(const char* name, size_t want) { return read_array(name, want, false); }
  // The same, or nullptr where arrays[name] is null or absent.
  float* optional_array(const char* name, size_t want) { return read_array(name, want, true); }

  // arrays[name], an Int32Array of exactly `want` indices, each in [0, bound).
  int32_t* index_array(const char* name, size_t want, int bound) {
    int32_t* v = static_cast<int32_t*>(typed_array(name, want, napi_int32_array, "an Int32Array", "ints", false));
    for (size_t k = 0; v && k < want; k++)
      if (v[k] < 0 || v[k] >= bound) {
        fail(std::string(name) + "[" + std::to_string(k) + "] = " + std::to_string(v[k]) + " is out of range");
        return nullptr;
      }
    return v;
  }

 private:
  bool is_object(napi_value v) {
    napi_valuetype type = napi_undefined;
    return napi_typeof(env_, v, &type) == napi_ok && type == napi_object;
  }

  float* read_array(const char* name, size_t want, bool optional) {
    return static_cast<float*>(typed_array(name, want, napi_float32_array, "a Float32Array", "floats", optional));
  }

  // arrays[name], a typed array of `type` holding exactly `want` elements.
  void* typed_array(const char* name, size_t want, napi_typedarray_type type_wanted, const char* type_name,
                    const char* elements, bool optional) {
    if (!ok_) return nullptr;
    napi_value v;
    napi_valuetype type = napi_undefined;
    if (napi_get_named_property(env_, arrays_, name, &v) == napi_ok) napi_typeof(env_, v, &type);
    if (optional && (type == napi_null || type == napi_undefined)) return nullptr;
    napi_typedarray_type array_type;
    size_t length;
    void* data;
    if (type != napi_object ||
        napi_get_typedarray_info(env_, v, &array_type, &length, &data, nullptr, nullptr) != napi_ok ||
        array_type != type_wanted) {
      fail(std::string(name) + " is not " + type_name);
      return nullptr;
    }
    if (length != want) {
      fail(std::string(name) + " holds " + std::to_string(length) + " " + elements + ", its params need " +
           std::to_string(want));
      return nullptr;
    }
    return data;
  }

  napi_env env_;
  const char* kernel_;
  napi_value arrays_ = nullptr;
  napi_value params_ = nullptr;
  bool ok_ = true;
};

// ---- The params of each family, read and checked for consistency ----

// Stride 1: the output is the padded input less the kernel, plus one (in long: ints up to 2^31 - 1 add).
ConvParams conv_params(Call& call) {
  const ConvParams p = call.params(kConvFields);
  const long out_height = (long)p.h + p.padTop + p.padBottom - p.kh + 1;
  const long out_width = (long)p.w + p.padLeft + p.padRight - p.kw + 1;
  if (call.ok() && (p.outHeight != out_height || p.outWidth != out_width))
    call.fail("output size does not follow from input, kernel and padding (stride 1)");
  return p;
}

// The recomputing first block: 'same' padding, and whole registers of 8 output channels.
ConvParams input_block_params(Call& call) {
  const ConvParams p = conv_params(call);
  if (call.ok() && (p.outHeight != p.h || p.outWidth != p.w))
    call.fail("the first block's padding must keep the image size");
  if (call.ok() && p.cout % 8 != 0) call.fail("cout must be a multiple of 8");
  return p;
}

// ---- The kernels ----

napi_value Conv2d(napi_env env, napi_callback_info info) {
  Call call(env, info, "conv2d");
  const ConvParams p = conv_params(call);
  const float* x = call.array("x", call.count({p.n, p.h, p.w, p.cin}));
  const float* filter = call.array("filter", call.count({p.kh, p.kw, p.cin, p.cout}));
  const float* bias = call.optional_array("bias", p.cout);
  float* out = call.array("out", call.count({p.n, p.outHeight, p.outWidth, p.cout}));
  if (call.ok()) conv2d(p, x, filter, bias, out);
  return nullptr;
}

napi_value FilterGrad(napi_env env, napi_callback_info info) {
  Call call(env, info, "filterGrad");
  const ConvParams p = conv_params(call);
  const float* x = call.array("x", call.count({p.n, p.h, p.w, p.cin}));
  const float* dy = call.array("dy", call.count({p.n, p.outHeight, p.outWidth, p.cout}));
  float* dw = call.array("dw", call.count({p.kh, p.kw, p.cin, p.cout}));
  if (call.ok()) conv2d_filter_grad(p, x, dy, dw);
  return nullptr;
}

napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  Call call(env, info, "maxPoolGrad");
  const PoolParams p = call.params(kPoolFields);
  const float* x = call.array("x", call.count({p.n, p.h, p.w, p.c}));
  const float* dy = call.array("dy", call.count({p.n, p.outHeight, p.outWidth, p.c}));
  float* dx = call.array("dx", call.count({p.n, p.h, p.w, p.c}));
  if (call.ok()) max_pool_grad(p, x, dy, dx);
  return nullptr;
}

napi_value ChannelMoments(napi_env env, napi_callback_info info) {
  Call call(env, info, "channelMoments");
  const BatchNormParams p = call.params(kBatchNormFields);
  const float* z = call.array("z", call.count({p.n, p.h, p.w, p.c}));
  const float* center = call.array("center", p.c);
  float* s1 = call.array("s1", p.c);
  float* s2 = call.array("s2", p.c);
  if (call.ok()) channel_moments(p, z, center, s1, s2);
  return nullptr;
}

napi_value BnReluPool(napi_env env, napi_callback_info info) {
  Call call(env, info, "bnReluPool");
  const BatchNormParams p = call.params(kBatchNormFields);
  const size_t full = call.count({p.n, p.h, p.w, p.c});
  const float* z = call.array("z", full);
  const float* mean = call.array("mean", p.c);
  const float* inv_std = call.array("invStd", p.c);
  const float* gamma = call.array("gamma", p.c);
  const float* beta = call.array("beta", p.c);
  float* xhat = call.optional_array("xhat", full);
  float* y = call.array("y", call.count({p.n, p.h / 2, p.w / 2, p.c}));
  if (call.ok()) bn_relu_pool(p, z, mean, inv_std, gamma, beta, xhat, y);
  return nullptr;
}

napi_value BnGradSums(napi_env env, napi_callback_info info) {
  Call call(env, info, "bnGradSums");
  const BatchNormParams p = call.params(kBatchNormFields);
  const float* xhat = call.array("xhat", call.count({p.n, p.h, p.w, p.c}));
  const float* gamma = call.array("gamma", p.c);
  const float* beta = call.array("beta", p.c);
  const float* dy = call.array("dy", call.count({p.n, p.h / 2, p.w / 2, p.c}));
  float* dbeta = call.array("dBeta", p.c);
  float* dgamma = call.array("dGamma", p.c);
  if (call.ok()) bn_grad_sums(p, xhat, gamma, beta, dy, dbeta, dgamma);
  return nullptr;
}

napi_value BnGradInput(napi_env env, napi_callback_info info) {
  Call call(env, info, "bnGradInput");
  const BatchNormParams p = call.params(kBatchNormFields);
  const size_t full = call.count({p.n, p.h, p.w, p.c});
  const float* xhat = call.array("xhat", full);
  const float* gamma = call.array("gamma", p.c);
  const float* beta = call.array("beta", p.c);
  const float* dy = call.array("dy", call.count({p.n, p.h / 2, p.w / 2, p.c}));
  const float* m_beta = call.array("mBeta", p.c);
  const float* m_gamma = call.array("mGamma", p.c);
  const float* scale = call.array("scale", p.c);
  float* dz = call.array("dz", full);
  if (call.ok()) bn_grad_input(p, xhat, gamma, beta, dy, m_beta, m_gamma, scale, dz);
  return nullptr;
}

// The first block's inputs, common to its four kernels.
struct InputBlockInputs {
  const float *x, *kernel, *bias;
  InputBlockInputs(Call& call, const ConvParams& p)
      : x(call.array("x", call.count({p.n, p.h, p.w, p.cin}))),
        kernel(call.array("kernel", call.count({p.kh, p.kw, p.cin, p.cout}))), bias(call.array("bias", p.cout)) {}
};

// Its batch norm's per-channel arrays, and the pooled output's gradient, for the passes after the moments.
struct InputBlockNorm {
  const float *mean, *inv_std, *gamma, *beta;
  InputBlockNorm(Call& call, const ConvParams& p)
      : mean(call.array("mean", p.cout)), inv_std(call.array("invStd", p.cout)), gamma(call.array("gamma", p.cout)),
        beta(call.array("beta", p.cout)) {}
};
size_t pooled_count(Call& call, const ConvParams& p) { return call.count({p.n, p.h / 2, p.w / 2, p.cout}); }

napi_value InputBlockMoments(napi_env env, napi_callback_info info) {
  Call call(env, info, "inputBlockMoments");
  const ConvParams p = input_block_params(call);
  const InputBlockInputs in(call, p);
  float* mean = call.array("mean", p.cout);
  float* variance = call.array("variance", p.cout);
  if (call.ok()) input_block_moments(p, in.x, in.kernel, in.bias, mean, variance);
  return nullptr;
}

napi_value InputBlockForward(napi_env env, napi_callback_info info) {
  Call call(env, info, "inputBlockForward");
  const ConvParams p = input_block_params(call);
  const InputBlockInputs in(call, p);
  const InputBlockNorm bn(call, p);
  float* y = call.array("y", pooled_count(call, p));
  if (call.ok()) input_block_forward(p, in.x, in.kernel, in.bias, bn.mean, bn.inv_std, bn.gamma, bn.beta, y);
  return nullptr;
}

napi_value InputBlockGradSums(napi_env env, napi_callback_info info) {
  Call call(env, info, "inputBlockGradSums");
  const ConvParams p = input_block_params(call);
  const InputBlockInputs in(call, p);
  const InputBlockNorm bn(call, p);
  const float* dy = call.array("dy", pooled_count(call, p));
  float* dbeta = call.array("dBeta", p.cout);
  float* dgamma = call.array("dGamma", p.cout);
  if (call.ok())
    input_block_grad_sums(p, in.x, in.kernel, in.bias, bn.mean, bn.inv_std, bn.gamma, bn.beta, dy, dbeta, dgamma);
  return nullptr;
}

napi_value InputBlockGrad(napi_env env, napi_callback_info info) {
  Call call(env, info, "inputBlockGrad");
  const ConvParams p = input_block_params(call);
  const InputBlockInputs in(call, p);
  const InputBlockNorm bn(call, p);
  const float* dy = call.array("dy", pooled_count(call, p));
  const float* m_beta = call.array("mBeta", p.cout);
  const float* m_gamma = call.array("mGamma", p.cout);
  const float* scale = call.array("scale", p.cout);
  float* dw = call.array("dw", call.count({p.kh, p.kw, p.cin, p.cout}));
  if (call.ok())
    input_block_grad(p, in.x, in.kernel, in.bias, bn.mean, bn.inv_std, bn.gamma, bn.beta, dy, m_beta, m_gamma, scale,
                     dw);
  return nullptr;
}

// RKD-D and RKD-A share their arrays: the student's and the teacher's embeddings in, the loss and
// its gradient with respect to the student out.
template <void (*kernel)(const RkdParams&, const float*, const float*, float*, float*)>
napi_value Rkd(napi_env env, napi_callback_info info, const char* name) {
  Call call(env, info, name);
  const RkdParams p = call.params(kRkdFields);
  const float* s = call.array("s", call.count({p.n, p.dimS}));
  const float* t = call.array("t", call.count({p.n, p.dimT}));
  float* loss = call.array("loss", 1);
  float* ds = call.array("ds", call.count({p.n, p.dimS}));
  if (call.ok()) kernel(p, s, t, loss, ds);
  return nullptr;
}

napi_value RkdAngle(napi_env env, napi_callback_info info) { return Rkd<rkd_angle>(env, info, "rkdAngle"); }

napi_value RkdDistance(napi_env env, napi_callback_info info) { return Rkd<rkd_distance>(env, info, "rkdDistance"); }

napi_value ProtoLogits(napi_env env, napi_callback_info info) {
  Call call(env, info, "protoLogits");
  const ProtoLogitsParams p = call.params(kProtoLogitsFields);
  if (call.ok() && (p.way < 1 || p.shot < 1 || p.query < 1)) call.fail("way, shot and query must be positive");
  const float* embeddings = call.array("embeddings", call.count({p.rows, p.dim}));
  const int32_t* support_rows = call.index_array("supportRows", call.count({p.n, p.way, p.shot}), p.rows);
  const int32_t* query_rows = call.index_array("queryRows", call.count({p.n, p.way, p.query}), p.rows);
  float* out = call.array("out", call.count({p.n, p.way, p.query, p.way}));
  if (call.ok()) proto_logits(p, embeddings, support_rows, query_rows, out);
  return nullptr;
}

// abi(): the version of these calling conventions. Raised whenever a kernel's arrays or params change,
// with NATIVE_ABI in src/kernels/native-addon.ts: an addon built from older sources is refused there
// (npm run build:native) instead of failing at its first call.
constexpr int kAbi = 2;

napi_value Abi(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, kAbi, &out);
  return out;
}

// threads(): the OpenMP threads the kernels run on.
napi_value Threads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, omp_get_max_threads(), &out);
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  const std::initializer_list<std::pair<const char*, napi_callback>> kernels = {
      {"conv2d", Conv2d},
      {"filterGrad", FilterGrad},
      {"maxPoolGrad", MaxPoolGrad},
      {"channelMoments", ChannelMoments},
      {"bnReluPool", BnReluPool},
      {"bnGradSums", BnGradSums},
      {"bnGradInput", BnGradInput},
      {"inputBlockMoments", InputBlockMoments},
      {"inputBlockForward", InputBlockForward},
      {"inputBlockGradSums", InputBlockGradSums},
      {"inputBlockGrad", InputBlockGrad},
      {"rkdAngle", RkdAngle},
      {"rkdDistance", RkdDistance},
      {"protoLogits", ProtoLogits},
      {"threads", Threads},
      {"abi", Abi},
  };
  for (const auto& [name, function] : kernels) {
    napi_property_descriptor property = {};
    property.utf8name = name;
    property.method = function;
    property.attributes = napi_default;
    napi_define_properties(env, exports, 1, &property);
  }
  return exports;
}

}  // namespace
}  // namespace fewshot

NAPI_MODULE(NODE_GYP_MODULE_NAME, fewshot::Init)
