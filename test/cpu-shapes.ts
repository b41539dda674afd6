/**
 * CPUs of the shapes the native kernels meet, as the CPUID probe (src/native/cpu.cc) reports their
 * flags: fake flag sets for the level choice's tests (FEWSHOT_CPU_FLAGS stands in for the probe),
 * so that no test depends on the CPU of the machine running it. The probe reports only the flags the
 * levels need, in /proc/cpuinfo's spelling.
 */
const V2 = 'pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm';
const V3 = `${V2} movbe xsave avx fma f16c bmi1 avx2 bmi2 abm`;
const AVX512 = 'avx512f avx512dq avx512cd avx512bw avx512vl';

export interface CpuShape {
  readonly name: string;
  /** What the probe reports (space-separated, as FEWSHOT_CPU_FLAGS takes them). */
  readonly cpuid: string;
  /** The best x86-64 level it runs. */
  readonly level: string;
}

export const SKYLAKE_SP: CpuShape = {
  name: 'Intel Skylake-SP (Xeon Scalable, AVX-512)',
  cpuid: `${V3} ${AVX512}`,
  level: 'x86-64-v4',
};
export const ICELAKE_SP: CpuShape = {
  name: 'Intel Icelake-SP (AVX-512)',
  cpuid: `${V3} ${AVX512}`,
  level: 'x86-64-v4',
};
export const HASWELL: CpuShape = { name: 'Intel Haswell (AVX2, no AVX-512)', cpuid: V3, level: 'x86-64-v3' };
export const ZEN2: CpuShape = { name: 'AMD Zen 2/3 EPYC (AVX2, no AVX-512)', cpuid: V3, level: 'x86-64-v3' };
export const ZEN4: CpuShape = { name: 'AMD Zen 4 EPYC (AVX-512)', cpuid: `${V3} ${AVX512}`, level: 'x86-64-v4' };
/** AVX but not AVX2, no MOVBE/BMI/FMA: below x86-64-v3. */
export const SANDY_BRIDGE: CpuShape = {
  name: 'Intel Sandy Bridge (AVX, no AVX2)',
  cpuid: `${V2} xsave avx`,
  level: 'x86-64-v2',
};
export const WESTMERE: CpuShape = { name: 'Intel Westmere/Nehalem (SSE4.2)', cpuid: V2, level: 'x86-64-v2' };
/** SSE3 and no more (an early x86-64 such as a K8 or a Prescott; QEMU's qemu64 model has no SSSE3 either). */
export const BARE: CpuShape = { name: 'a bare x86-64 (SSE3 at most)', cpuid: 'pni', level: 'x86-64' };

export const CPU_SHAPES: readonly CpuShape[] = [
  SKYLAKE_SP,
  ICELAKE_SP,
  HASWELL,
  ZEN2,
  ZEN4,
  SANDY_BRIDGE,
  WESTMERE,
  BARE,
];

/**
 * The Zen 4 EPYC's /proc/cpuinfo as a hypervisor showed it on the machine of issue 26: every flag of
 * x86-64-v4 but `abm`, which CPUID reports there (LZCNT). Read alone it makes the CPU an x86-64-v2.
 */
export const ZEN4_CPUINFO_WITHOUT_ABM = [
  'processor\t: 0',
  'vendor_id\t: AuthenticAMD',
  'model name\t: AMD EPYC',
  'flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht ' +
    'syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid ' +
    'tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand ' +
    'hypervisor lahf_lm cmp_legacy cr8_legacy sse4a misalignsse 3dnowprefetch topoext bmi1 avx2 smep bmi2 erms ' +
    'invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl ' +
    'xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq ' +
    'avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm',
  '',
].join('\n');
