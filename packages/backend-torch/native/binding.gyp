{
  # Kept in native/ rather than the package root on purpose: npm runs an
  # implicit `node-gyp rebuild` on install for any package with a root
  # binding.gyp, and this optional addon must only build when asked
  # (npm run build:native). Paths here are relative to native/.
  "targets": [
    {
      "target_name": "psic_torch",
      "sources": ["addon.cc", "torch_conv.cc", "elementwise.cc"],
      "include_dirs": ["<!@(node ../scripts/libtorch-paths.mjs include)"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node ../scripts/libtorch-paths.mjs libdir)",
        "-Wl,-rpath,<!(node ../scripts/libtorch-paths.mjs libdir)",
        "-ltorch_cpu",
        "-lc10"
      ],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
