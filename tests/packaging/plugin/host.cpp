// Loads the plugin at run time and calls into it: the host itself never links tether.
#include <dlfcn.h>

#include <cstdio>

int main() {
  void* lib = dlopen(PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::printf("plugin: dlopen failed: %s\n", dlerror());
    return 1;
  }
  auto run = reinterpret_cast<int (*)()>(dlsym(lib, "plugin_run"));
  const int rc = run != nullptr ? run() : 2;
  std::printf("plugin: plugin_run() returned %d\n", rc);
  return rc;
}
