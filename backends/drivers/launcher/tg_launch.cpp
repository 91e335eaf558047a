// tilegen's kernel launcher: one small pybind11 module, built once per machine, Python and
// compiler (backends/drivers/launcher.py), that launches device code built alone (a CUDA cubin
// from `nvcc -cubin`, or an AMD code object) with parameters Python packed from the kernel's
// launch spec (backends/hip/launch.py says the layout; the build checked it with static_asserts).
//
// Kernels compile in 2-4 s this way instead of 10-19 s: no kernel compiles pybind11 host code.
// The GPU driver (libcuda.so.1 / libamdhip64.so) is opened with dlopen on first use, so this
// module builds and imports on a machine without a GPU; a launch there says what is missing.
#include <dlfcn.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// The driver API entry points, declared with plain C types (no CUDA / HIP headers needed).
using Status = int;
using Handle = void*;

struct Cuda {
    void* library = nullptr;
    Status (*init)(unsigned) = nullptr;
    Status (*error_string)(Status, const char**) = nullptr;
    Status (*device_get)(int*, int) = nullptr;
    Status (*ctx_get_current)(Handle*) = nullptr;
    Status (*ctx_get_device)(int*) = nullptr;
    Status (*primary_ctx_retain)(Handle*, int) = nullptr;
    Status (*ctx_set_current)(Handle) = nullptr;
    Status (*module_load_data)(Handle*, const void*) = nullptr;
    Status (*module_get_function)(Handle*, Handle, const char*) = nullptr;
    Status (*func_set_attribute)(Handle, int, int) = nullptr;
    Status (*launch_kernel)(Handle, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, Handle,
                            void**, void**) = nullptr;
    Status (*tensor_map_encode_tiled)(void*, int, std::uint32_t, void*, const std::uint64_t*, const std::uint64_t*,
                                      const std::uint32_t*, const std::uint32_t*, int, int, int, int) = nullptr;
};

struct Hip {
    void* library = nullptr;
    Status (*init)(unsigned) = nullptr;
    const char* (*error_string)(Status) = nullptr;
    Status (*get_device)(int*) = nullptr;
    Status (*set_device)(int) = nullptr;
    Status (*module_load_data)(Handle*, const void*) = nullptr;
    Status (*module_get_function)(Handle*, Handle, const char*) = nullptr;
    Status (*launch_kernel)(Handle, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, Handle,
                            void**, void**) = nullptr;
};

constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

std::mutex api_mutex;

template <typename F>
void resolve(void* library, const char* name, F& slot, const std::string& path) {
    slot = reinterpret_cast<F>(dlsym(library, name));
    if (slot == nullptr) {
        throw std::runtime_error(path + " has no " + name + "; the GPU driver is older than tilegen needs");
    }
}

void* open_library(const char* env, const std::vector<std::string>& names, const char* what) {
    std::vector<std::string> tried;
    if (const char* override_path = std::getenv(env)) {
        tried.push_back(override_path);
    }
    tried.insert(tried.end(), names.begin(), names.end());
    std::string why;
    for (const auto& name : tried) {
        if (void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
            return library;
        }
        const char* error = dlerror();
        why += "\n  " + name + ": " + (error ? error : "not found");
    }
    throw std::runtime_error(std::string("cannot open the ") + what + " (is this a machine with that GPU?):" + why);
}

Cuda& cuda() {
    static Cuda api;
    std::lock_guard<std::mutex> lock(api_mutex);
    if (api.library == nullptr) {
        const char* path = "libcuda.so.1";
        void* library = open_library("TILEGEN_LIBCUDA", {"libcuda.so.1", "libcuda.so"}, "CUDA driver (libcuda.so.1)");
        Cuda found;
        found.library = library;
        resolve(library, "cuInit", found.init, path);
        resolve(library, "cuGetErrorString", found.error_string, path);
        resolve(library, "cuDeviceGet", found.device_get, path);
        resolve(library, "cuCtxGetCurrent", found.ctx_get_current, path);
        resolve(library, "cuCtxGetDevice", found.ctx_get_device, path);
        resolve(library, "cuDevicePrimaryCtxRetain", found.primary_ctx_retain, path);
        resolve(library, "cuCtxSetCurrent", found.ctx_set_current, path);
        resolve(library, "cuModuleLoadData", found.module_load_data, path);
        resolve(library, "cuModuleGetFunction", found.module_get_function, path);
        resolve(library, "cuFuncSetAttribute", found.func_set_attribute, path);
        resolve(library, "cuLaunchKernel", found.launch_kernel, path);
        // Tensor maps (TMA) exist from CUDA 12.0 on; resolved lazily so older drivers still launch.
        found.tensor_map_encode_tiled =
            reinterpret_cast<decltype(found.tensor_map_encode_tiled)>(dlsym(library, "cuTensorMapEncodeTiled"));
        api = found;
    }
    return api;
}

Hip& hip() {
    static Hip api;
    std::lock_guard<std::mutex> lock(api_mutex);
    if (api.library == nullptr) {
        const char* path = "libamdhip64.so";
        void* library = open_library("TILEGEN_LIBAMDHIP", {"libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.7"},
                                     "HIP runtime (libamdhip64.so)");
        Hip found;
        found.library = library;
        resolve(library, "hipInit", found.init, path);
        resolve(library, "hipGetErrorString", found.error_string, path);
        resolve(library, "hipGetDevice", found.get_device, path);
        resolve(library, "hipSetDevice", found.set_device, path);
        resolve(library, "hipModuleLoadData", found.module_load_data, path);
        resolve(library, "hipModuleGetFunction", found.module_get_function, path);
        resolve(library, "hipModuleLaunchKernel", found.launch_kernel, path);
        api = found;
    }
    return api;
}

void check_cuda(Status status, const std::string& what) {
    if (status == 0) {
        return;
    }
    const char* text = nullptr;
    if (cuda().error_string(status, &text) != 0 || text == nullptr) {
        text = "unknown error";
    }
    throw std::runtime_error(what + " failed: CUDA error " + std::to_string(status) + " (" + text + ")");
}

void check_hip(Status status, const std::string& what) {
    if (status != 0) {
        throw std::runtime_error(what + " failed: HIP error " + std::to_string(status) + " (" +
                                 hip().error_string(status) + ")");
    }
}

// Makes device `device`'s primary context current (the one torch uses), as cudaSetDevice does.
void use_device_cuda(int device) {
    Cuda& api = cuda();
    Handle current = nullptr;
    check_cuda(api.init(0), "cuInit");
    check_cuda(api.ctx_get_current(&current), "cuCtxGetCurrent");
    int current_device = -1;
    if (current != nullptr) {
        check_cuda(api.ctx_get_device(&current_device), "cuCtxGetDevice");
    }
    if (current == nullptr || current_device != device) {
        int handle = 0;
        check_cuda(api.device_get(&handle, device), "cuDeviceGet");
        Handle primary = nullptr;
        check_cuda(api.primary_ctx_retain(&primary, handle), "cuDevicePrimaryCtxRetain");
        check_cuda(api.ctx_set_current(primary), "cuCtxSetCurrent");
    }
}

// One kernel of one device image, loaded into each device's context on its first launch there.
class Kernel {
  public:
    Kernel(std::string vendor, const py::bytes& image, std::string name)
        : vendor_(std::move(vendor)), image_(image), name_(std::move(name)) {
        if (vendor_ != "nvidia" && vendor_ != "amd") {
            throw std::invalid_argument("vendor must be 'nvidia' or 'amd', got '" + vendor_ + "'");
        }
    }

    // Launch on `device` (the torch device index) with the packed parameter block `params`;
    // `offsets` are where each kernel parameter starts in it (one entry for a kernel taking its
    // globals struct by value).
    void launch(int device, std::vector<unsigned> grid, std::vector<unsigned> block, unsigned shared_bytes,
                std::uintptr_t stream, const py::bytes& params, const std::vector<std::size_t>& offsets) {
        if (grid.size() != 3 || block.size() != 3) {
            throw std::invalid_argument("grid and block must have 3 extents each");
        }
        std::string packed = params;
        std::vector<void*> arguments;
        for (std::size_t offset : offsets) {
            if (offset >= packed.size()) {
                throw std::invalid_argument("parameter offset " + std::to_string(offset) + " is past the " +
                                            std::to_string(packed.size()) + "-byte parameter block");
            }
            arguments.push_back(packed.data() + offset);
        }
        if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) {
            return;  // nothing to compute
        }
        Handle stream_handle = reinterpret_cast<Handle>(stream);
        if (vendor_ == "nvidia") {
            Handle function = function_cuda(device, shared_bytes);
            check_cuda(cuda().launch_kernel(function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                            shared_bytes, stream_handle, arguments.data(), nullptr),
                       "cuLaunchKernel(" + name_ + ")");
        } else {
            Hip& api = hip();
            int previous = 0;
            check_hip(api.get_device(&previous), "hipGetDevice");
            check_hip(api.set_device(device), "hipSetDevice");
            Handle function = function_hip(device);
            Status status = api.launch_kernel(function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                              shared_bytes, stream_handle, arguments.data(), nullptr);
            api.set_device(previous);
            check_hip(status, "hipModuleLaunchKernel(" + name_ + ")");
        }
    }

    const std::string& name() const { return name_; }

  private:
    Handle function_cuda(int device, unsigned shared_bytes) {
        use_device_cuda(device);
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = functions_.find(device);
        if (found == functions_.end()) {
            Handle module = nullptr;
            check_cuda(cuda().module_load_data(&module, image_.data()), "cuModuleLoadData(" + name_ + ")");
            Handle function = nullptr;
            check_cuda(cuda().module_get_function(&function, module, name_.c_str()), "cuModuleGetFunction(" + name_ + ")");
            found = functions_.emplace(device, Loaded{function, 48 * 1024}).first;
        }
        if (shared_bytes > found->second.shared_limit) {
            check_cuda(cuda().func_set_attribute(found->second.function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                 static_cast<int>(shared_bytes)),
                       "reserving " + std::to_string(shared_bytes) + " bytes of dynamic shared memory for " + name_);
            found->second.shared_limit = shared_bytes;
        }
        return found->second.function;
    }

    Handle function_hip(int device) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = functions_.find(device);
        if (found == functions_.end()) {
            Handle module = nullptr;
            check_hip(hip().module_load_data(&module, image_.data()), "hipModuleLoadData(" + name_ + ")");
            Handle function = nullptr;
            check_hip(hip().module_get_function(&function, module, name_.c_str()), "hipModuleGetFunction(" + name_ + ")");
            found = functions_.emplace(device, Loaded{function, 0}).first;
        }
        return found->second.function;
    }

    struct Loaded {
        Handle function;
        unsigned shared_limit;
    };
    std::string vendor_;
    std::string image_;
    std::string name_;
    std::mutex mutex_;
    std::map<int, Loaded> functions_;
};

// cuTensorMapEncodeTiled: the 128-byte CUtensorMap a TMA kernel parameter holds. Enum arguments
// are the driver's values (CUtensorMapDataType, ...Interleave, ...Swizzle, ...L2promotion,
// ...FloatOOBfill); backends/hip/launch.py names them.
py::bytes encode_tensor_map(int device, int data_type, std::uintptr_t address, std::vector<std::uint64_t> dims,
                            std::vector<std::uint64_t> strides_bytes, std::vector<std::uint32_t> box,
                            std::vector<std::uint32_t> element_strides, int interleave, int swizzle, int l2_promotion,
                            int oob_fill) {
    const std::size_t rank = dims.size();
    if (rank < 1 || rank > 5 || box.size() != rank || element_strides.size() != rank ||
        strides_bytes.size() != rank - 1) {
        throw std::invalid_argument("a tensor map of rank " + std::to_string(rank) +
                                    " needs rank box extents and element strides and rank - 1 byte strides");
    }
    use_device_cuda(device);
    Cuda& api = cuda();
    if (api.tensor_map_encode_tiled == nullptr) {
        throw std::runtime_error("this CUDA driver has no cuTensorMapEncodeTiled (TMA needs CUDA 12.0 or later)");
    }
    alignas(64) unsigned char map[128];
    std::memset(map, 0, sizeof(map));
    check_cuda(api.tensor_map_encode_tiled(map, data_type, static_cast<std::uint32_t>(rank), reinterpret_cast<void*>(address),
                                           dims.data(), strides_bytes.data(), box.data(), element_strides.data(),
                                           interleave, swizzle, l2_promotion, oob_fill),
               "cuTensorMapEncodeTiled");
    return py::bytes(reinterpret_cast<const char*>(map), sizeof(map));
}

}  // namespace

PYBIND11_MODULE(TG_LAUNCHER_NAME, m) {
    m.doc() = "tilegen's kernel launcher (backends/drivers/launcher.py)";
    py::class_<Kernel>(m, "Kernel")
        .def(py::init<std::string, const py::bytes&, std::string>(), py::arg("vendor"), py::arg("image"),
             py::arg("name"))
        .def("launch", &Kernel::launch, py::arg("device"), py::arg("grid"), py::arg("block"), py::arg("shared_bytes"),
             py::arg("stream"), py::arg("params"), py::arg("offsets"))
        .def_property_readonly("name", &Kernel::name);
    m.def("encode_tensor_map", &encode_tensor_map, py::arg("device"), py::arg("data_type"), py::arg("address"),
          py::arg("dims"), py::arg("strides_bytes"), py::arg("box"), py::arg("element_strides"),
          py::arg("interleave") = 0, py::arg("swizzle") = 0, py::arg("l2_promotion") = 0, py::arg("oob_fill") = 0);
}
