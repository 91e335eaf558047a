// A stand-in for libcuda.so.1 that records what tilegen's launcher asks of the driver, so the
// launch path (module load, function lookup, shared memory opt-in, grid, block, stream and the
// packed parameter bytes) is tested on a machine without a GPU. Read back through ctypes.
#include <stdint.h>
#include <string.h>

int fake_loads = 0, fake_launches = 0, fake_shared_attribute = -1, fake_device = -1;
unsigned fake_grid[3], fake_block[3], fake_shared;
uintptr_t fake_stream;
char fake_function[256];
unsigned char fake_params[512];
int fake_param_size = 0;  // set by the test: how many bytes the kernel's parameter has
static char image_seen[16];
static int current = 0;

int cuInit(unsigned flags) { (void)flags; return 0; }
int cuGetErrorString(int status, const char** text) { *text = status == 500 ? "named symbol not found" : "fake"; return 0; }
int cuDeviceGet(int* device, int ordinal) { *device = ordinal; return 0; }
int cuCtxGetCurrent(void** ctx) { *ctx = current ? (void*)(uintptr_t)current : 0; return 0; }
int cuCtxGetDevice(int* device) { *device = current - 1; return 0; }
int cuDevicePrimaryCtxRetain(void** ctx, int device) { *ctx = (void*)(uintptr_t)(device + 1); return 0; }
int cuCtxSetCurrent(void* ctx) { current = (int)(uintptr_t)ctx; fake_device = current - 1; return 0; }
int cuModuleLoadData(void** module, const void* image) { memcpy(image_seen, image, 4); fake_loads++; *module = (void*)1; return 0; }
int cuModuleGetFunction(void** function, void* module, const char* name) {
    (void)module;
    if (strncmp(name, "_Z", 2) != 0) return 500;
    strncpy(fake_function, name, sizeof(fake_function) - 1);
    *function = (void*)2;
    return 0;
}
int cuFuncSetAttribute(void* function, int attribute, int value) { (void)function; if (attribute == 8) fake_shared_attribute = value; return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void* stream, void** params, void** extra) {
    (void)f; (void)extra;
    fake_grid[0] = gx; fake_grid[1] = gy; fake_grid[2] = gz;
    fake_block[0] = bx; fake_block[1] = by; fake_block[2] = bz;
    fake_shared = shared; fake_stream = (uintptr_t)stream;
    memcpy(fake_params, params[0], fake_param_size);
    fake_launches++;
    return 0;
}
int cuTensorMapEncodeTiled(void* map, int type, uint32_t rank, void* address, const uint64_t* dims, const uint64_t* strides,
                           const uint32_t* box, const uint32_t* element_strides, int interleave, int swizzle, int l2, int oob) {
    (void)element_strides; (void)interleave; (void)l2; (void)oob;
    uint64_t* out = (uint64_t*)map;  // a recognisable pattern instead of the driver's encoding
    out[0] = (uint64_t)(uintptr_t)address; out[1] = dims[0]; out[2] = dims[1]; out[3] = rank > 1 ? strides[0] : 0;
    out[4] = box[0]; out[5] = box[1]; out[6] = (uint64_t)type; out[7] = (uint64_t)swizzle;
    return 0;
}
