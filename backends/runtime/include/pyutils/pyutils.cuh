// Python bindings for emitted kernels (nvcc and hipcc alike), in HipKittens' spelling:
//
//   PYBIND11_MODULE(name, m) {
//       py::bind_function<dispatch>(m, "dispatch", &G::a, &G::b, &G::c, &G::alpha, &G::beta, &G::stream);
//   }
//
// binds `void dispatch(G)`: argument i of the Python call fills the member named by the i-th
// pointer. A gl member is built from any object with torch's tensor attributes (data_ptr(),
// shape, stride(), dtype, is_cuda), so the module never links libtorch; other members (float,
// size_t stream handle, ...) are cast by pybind11. Bad arguments raise ValueError naming the
// argument, before any GPU work.
//
// What a gl type must offer (both runtime paths and HipKittens do): `using dtype = T;`, a
// `raw_ptr` member and a constructor gl(T* data, batch, depth, rows, cols).
#pragma once

#ifdef TILEGEN_DEVICE_ONLY
// A device-only build (tilegen.compile: `nvcc -cubin -DTILEGEN_DEVICE_ONLY`) keeps only the kernels
// and launches them through tilegen's launcher, so the binding below is never used. These
// stand-ins let the module's PYBIND11_MODULE block parse without pybind11's headers, which are
// most of the device front end's time (about 3 of 5 s for k01 on sm_90a). Build the file without
// TILEGEN_DEVICE_ONLY to get the real pybind11 module.
#include "../kittens.cuh"

namespace kittens {
namespace py {
struct module_stand_in {
    const char* doc_ = nullptr;
    const char*& doc() { return doc_; }
};
template <auto function, typename... Members>
void bind_function(module_stand_in&, const char*, Members...) {}
template <auto kernel, typename... Members>
void bind_kernel(module_stand_in&, const char*, Members...) {}
}  // namespace py
}  // namespace kittens

#define PYBIND11_MODULE(name, variable) \
    [[maybe_unused]] static void tilegen_device_only_##name(kittens::py::module_stand_in& variable)
#else

#include <pybind11/pybind11.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../kittens.cuh"

namespace kittens {
namespace py {

namespace detail {

template <typename T>
concept global_view = requires(T g) {
    typename T::dtype;
    g.raw_ptr;
};

template <typename T>
concept has_stream = requires(T g) { g.stream; };

template <typename T>
inline const char* torch_dtype_name() {
    if constexpr (std::is_same_v<T, float>) {
        return "torch.float32";
    } else if constexpr (std::is_same_v<T, kittens::bf16>) {
        return "torch.bfloat16";
    } else {
        static_assert(!sizeof(T), "pyutils: gl members must hold bf16 or float");
    }
}

[[noreturn]] inline void refuse(const char* function, int position, const std::string& what) {
    throw pybind11::value_error(std::string(function) + "(): argument " + std::to_string(position) + ": " + what);
}

// The tensor checks every kernel relies on: dtype, on the GPU, 2-D, rows contiguous, and the
// 16-byte alignment that the runtime's vector and cp.async accesses need.
template <global_view GL>
GL tensor_to_gl(const pybind11::handle& tensor, const char* function, int position) {
    using T = typename GL::dtype;
    const char* expected = torch_dtype_name<T>();
    if (!pybind11::hasattr(tensor, "data_ptr") || !pybind11::hasattr(tensor, "shape") ||
        !pybind11::hasattr(tensor, "stride") || !pybind11::hasattr(tensor, "dtype") ||
        !pybind11::hasattr(tensor, "is_cuda")) {
        refuse(function, position,
               std::string("expected a torch tensor (") + expected + ", on the GPU), got a " +
                   std::string(pybind11::str(pybind11::type::handle_of(tensor).attr("__name__"))));
    }
    const std::string dtype = pybind11::str(tensor.attr("dtype"));
    if (dtype != expected) {
        refuse(function, position, std::string("expected a ") + expected + " tensor, got " + dtype + "; convert it with .to(" + expected + ")");
    }
    if (!tensor.attr("is_cuda").cast<bool>()) {
        refuse(function, position, "the tensor is not on the GPU (is_cuda is False); move it there with .cuda()");
    }
    const pybind11::tuple shape = pybind11::tuple(tensor.attr("shape"));
    if (shape.size() != 2) {
        refuse(function, position, "expected a 2-D tensor (rows x cols), got " + std::to_string(shape.size()) + " dimensions");
    }
    const pybind11::tuple stride = pybind11::tuple(tensor.attr("stride")());
    const long long rows = shape[0].cast<long long>(), cols = shape[1].cast<long long>();
    const long long row_stride = stride[0].cast<long long>(), col_stride = stride[1].cast<long long>();
    if (rows > INT_MAX || cols > INT_MAX) {
        refuse(function, position, "a " + std::to_string(rows) + " x " + std::to_string(cols) +
                                       " tensor has an extent past 2^31 - 1, which the kernels index with int");
    }
    // Torch's contiguity: a dimension of extent 1 may have any stride.
    if ((cols != 1 && col_stride != 1) || (rows != 1 && row_stride != cols)) {
        refuse(function, position, "the tensor's rows are not contiguous (stride (" + std::to_string(row_stride) + ", " +
                                       std::to_string(col_stride) + "), expected (" + std::to_string(cols) +
                                       ", 1)); pass .contiguous()");
    }
    const std::uintptr_t address = tensor.attr("data_ptr")().cast<std::uintptr_t>();
    if (address % 16 != 0) {
        refuse(function, position, "the tensor's data is not 16-byte aligned (a view at an offset?); pass .clone()");
    }
    if ((cols * static_cast<long long>(sizeof(T))) % 16 != 0) {
        refuse(function, position, "a row of " + std::to_string(cols) + " elements is not a multiple of 16 bytes, which the "
                                   "kernels' 16-byte accesses need; pad the columns to a multiple of " +
                                       std::to_string(16 / sizeof(T)));
    }
    return GL(reinterpret_cast<T*>(address), 1, 1, static_cast<int>(rows), static_cast<int>(cols));
}

template <typename M>
M cast_argument(const pybind11::handle& value, const char* function, int position) {
    if constexpr (global_view<M>) {
        return tensor_to_gl<M>(value, function, position);
    } else {
        try {
            return value.cast<M>();
        } catch (const pybind11::cast_error&) {
            const char* wanted = std::is_floating_point_v<M> ? "a float"
                                 : std::is_unsigned_v<M>     ? "a non-negative integer"
                                 : std::is_integral_v<M>     ? "an integer"
                                                             : "a value of the member's type";
            refuse(function, position,
                   std::string("expected ") + wanted + ", got " + std::string(pybind11::repr(value)) + " (" +
                       std::string(pybind11::str(pybind11::type::handle_of(value).attr("__name__"))) + ")");
        }
    }
}

template <typename F>
struct globals_of;
template <typename G>
struct globals_of<void (*)(G)> {
    using type = std::remove_cvref_t<G>;
};

template <std::size_t>
using object_argument = pybind11::object;

// Defines `name(arg_1, ..., arg_n)`: a G with member i filled from arg_i, handed to `call`.
template <typename G, typename Call, typename... Members, std::size_t... I>
void define(pybind11::module_& m, const char* name, Call call, std::index_sequence<I...>, Members... members) {
    const std::tuple<Members...> pointers(members...);
    m.def(name, [name, call, pointers](object_argument<I>... args) {
        G globals{};
        ((globals.*std::get<I>(pointers) = cast_argument<std::remove_cvref_t<decltype(globals.*std::get<I>(pointers))>>(
              args, name, static_cast<int>(I) + 1)),
         ...);
        pybind11::gil_scoped_release release;  // the kernel may run long; let other Python threads go on
        call(globals);
    });
}

}  // namespace detail

// Binds `void function(G)` as `name(arg_1, ..., arg_n)`, arg_i filling `*members[i]`.
template <auto function, typename... Members>
void bind_function(pybind11::module_& m, const char* name, Members... members) {
    using G = typename detail::globals_of<decltype(function)>::type;
    detail::define<G>(m, name, [](G& globals) { function(globals); }, std::index_sequence_for<Members...>{}, members...);
}

// Binds a __global__ kernel taking G directly: launches it with G's grid(), block() and
// dynamic_shared_memory() (raising the kernel's dynamic shared memory limit to that first) on
// G's `stream` member if it has one, and raises RuntimeError if the launch fails.
template <auto kernel, typename... Members>
void bind_kernel(pybind11::module_& m, const char* name, Members... members) {
    using G = typename detail::globals_of<decltype(kernel)>::type;
    detail::define<G>(
        m, name,
        [](G& globals) {
            const auto shared_bytes = static_cast<int>(globals.dynamic_shared_memory());
            hipStream_t stream = nullptr;
            if constexpr (detail::has_stream<G>) {
                stream = reinterpret_cast<hipStream_t>(static_cast<std::uintptr_t>(globals.stream));
            }
            hipError_t status =
                hipFuncSetAttribute(reinterpret_cast<const void*>(kernel), hipFuncAttributeMaxDynamicSharedMemorySize, shared_bytes);
            if (status == hipSuccess) {
                kernel<<<globals.grid(), globals.block(), shared_bytes, stream>>>(globals);
                status = hipGetLastError();
            }
            if (status != hipSuccess) {
                throw std::runtime_error(std::string("launching the kernel failed: ") + hipGetErrorString(status));
            }
        },
        std::index_sequence_for<Members...>{}, members...);
}

}  // namespace py
}  // namespace kittens

#endif  // TILEGEN_DEVICE_ONLY
