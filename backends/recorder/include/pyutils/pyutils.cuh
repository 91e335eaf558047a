// The recording build (backends/recorder) compiles the emitted kernel for the host only: the
// pybind11 binding is cut off before compiling, so nothing of pyutils is needed here.
#pragma once
