// A module whose bound function records the globals pyutils built instead of launching anything,
// so tests can check pyutils' argument handling on a machine without a GPU (and with fake
// tensors); and one real kernel, bound with bind_kernel, to see where a launch without a GPU fails.
#include "kittens.cuh"
#include "pyutils/pyutils.cuh"
using namespace kittens;

#ifndef TG_MODULE_NAME
#define TG_MODULE_NAME pyutils_probe
#endif

struct probe_globals {
    gl<bf16, -1, -1, -1, -1> a;
    gl<float, -1, -1, -1, -1> c;
    float alpha;
    size_t stream;
    int count;
};

static probe_globals recorded;

void record(probe_globals g) { recorded = g; }

template <typename GL>
pybind11::dict describe(const GL& view) {
    pybind11::dict d;
    d["data_ptr"] = reinterpret_cast<std::uintptr_t>(view.raw_ptr);
    d["batch"] = view.batch();
    d["depth"] = view.depth();
    d["rows"] = view.rows();
    d["cols"] = view.cols();
    return d;
}

struct fill_globals {
    gl<float, -1, -1, -1, -1> out;
    float value;
    size_t stream;
    dim3 grid() { return dim3(out.rows()); }
    dim3 block() { return dim3(out.cols()); }
    size_t dynamic_shared_memory() { return 0; }
};

__global__ void fill(const fill_globals g) { g.out.raw_ptr[blockIdx.x * g.out.cols() + threadIdx.x] = g.value; }

PYBIND11_MODULE(TG_MODULE_NAME, m) {
    py::bind_kernel<fill>(m, "fill", &fill_globals::out, &fill_globals::value, &fill_globals::stream);
    py::bind_function<record>(m, "record", &probe_globals::a, &probe_globals::c, &probe_globals::alpha,
                              &probe_globals::stream, &probe_globals::count);
    m.def("recorded", [] {
        pybind11::dict d;
        d["a"] = describe(recorded.a);
        d["c"] = describe(recorded.c);
        d["alpha"] = recorded.alpha;
        d["stream"] = recorded.stream;
        d["count"] = recorded.count;
        return d;
    });
}
