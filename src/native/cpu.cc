// The CPU's instruction-set features as the CPUID instruction reports them to this process, for
// deciding whether the kernels (built for an ISA level such as x86-64-v3) may run here. Compiled for
// the architecture's baseline, never with the kernels' flags, so that asking can never fault.
// /proc/cpuinfo is not enough: an emulator or a hypervisor may pass the host's through while hiding
// features from the guest. Names follow /proc/cpuinfo. Built first by scripts/build-native.mjs (its own
// project, probe/binding.gyp) so that the build reads the same flags as the loader; the levels and the
// flags each needs are src/native/cpu-levels.mjs.
#include <node_api.h>

#include <string>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static std::vector<std::string> features() {
  std::vector<std::string> out;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return out;
  const unsigned ecx1 = c;
  auto add = [&](bool on, const char* name) {
    if (on) out.push_back(name);
  };
  add(ecx1 & (1u << 0), "pni");
  add(ecx1 & (1u << 9), "ssse3");
  add(ecx1 & (1u << 13), "cx16");
  add(ecx1 & (1u << 19), "sse4_1");
  add(ecx1 & (1u << 20), "sse4_2");
  add(ecx1 & (1u << 22), "movbe");
  add(ecx1 & (1u << 23), "popcnt");
  add(ecx1 & (1u << 26), "xsave");
  // AVX state must also be enabled by the OS (OSXSAVE and XCR0 bits 1-2), or AVX instructions fault.
  // AVX-512 state likewise (XCR0 bits 5-7: the opmask and upper ZMM registers).
  bool avxState = false, avx512State = false;
  if (ecx1 & (1u << 27)) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    avxState = (lo & 6) == 6;
    avx512State = (lo & 0xe6) == 0xe6;
  }
  add(avxState && (ecx1 & (1u << 28)), "avx");
  add(avxState && (ecx1 & (1u << 12)), "fma");
  add(avxState && (ecx1 & (1u << 29)), "f16c");
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    add(b & (1u << 3), "bmi1");
    add(avxState && (b & (1u << 5)), "avx2");
    add(b & (1u << 8), "bmi2");
    add(avx512State && (b & (1u << 16)), "avx512f");
    add(avx512State && (b & (1u << 17)), "avx512dq");
    add(avx512State && (b & (1u << 28)), "avx512cd");
    add(avx512State && (b & (1u << 30)), "avx512bw");
    add(avx512State && (b & (1u << 31)), "avx512vl");
  }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) {
    add(c & (1u << 0), "lahf_lm");
    add(c & (1u << 5), "abm");  // LZCNT: shown by CPUID where a hypervisor may hide it in /proc/cpuinfo
  }
#endif
  return out;
}

static napi_value Features(napi_env env, napi_callback_info) {
  const std::vector<std::string> list = features();
  napi_value array;
  napi_create_array_with_length(env, list.size(), &array);
  for (size_t i = 0; i < list.size(); i++) {
    napi_value name;
    napi_create_string_utf8(env, list[i].c_str(), list[i].size(), &name);
    napi_set_element(env, array, i, name);
  }
  return array;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "features", NAPI_AUTO_LENGTH, Features, nullptr, &fn);
  napi_set_named_property(env, exports, "features", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
