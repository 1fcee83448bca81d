"""llamacpp_buffers.py - switch llama.cpp's extra buffer types off for this process.

llama.cpp's extra buffer types repack Q4_0/Q4_K weights for its interleaved kernels and, on
CPUs that report AMX, run AMX code that some VMs fault on (SIGILL; an earlier host of this
project did). llama-cpp-python's Llama class has no switch for them, so every model this
process loads afterwards gets use_extra_bufts = False through the default parameters."""
import llama_cpp
import llama_cpp.llama_cpp as lowlevel


def use_plain_buffers():
    default_params = lowlevel.llama_model_default_params

    def without_extra_bufts():
        p = default_params()
        p.use_extra_bufts = False
        return p
    lowlevel.llama_model_default_params = without_extra_bufts
    llama_cpp.llama_model_default_params = without_extra_bufts
