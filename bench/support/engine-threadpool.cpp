// What node-llama-cpp's way of running llama.cpp costs against llama-server's, in one process on
// node-llama-cpp's own prebuilt binaries: single-token decodes (logits and a greedy pick, as
// llama-bench's generation test and a served token) with
// - `disposable`: no threadpool attached to the context, so ggml creates and joins its worker
//   threads for every graph, i.e. every decode. node-llama-cpp's addon never calls
//   llama_attach_threadpool (3.22.1), so this is how Bastion decodes;
// - `pool<N>`: a persistent ggml threadpool attached with poll level N, as llama-server and
//   llama-bench do (their `--poll` default is 50: the workers spin for new work between graphs
//   before they sleep; 0 sleeps at once);
// - `hop`: per-graph threads as `disposable`, and each decode called from a thread of its own, as
//   node-llama-cpp calls llama_decode from whichever libuv worker takes the job;
// - `rotate`: each decode called by the next of 4 long-lived threads in turn, as libuv's 4 workers
//   take node-llama-cpp's decodes.
// The modes alternate within each round, in a rotating order. Build and run (from the repository root):
//   B=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 S=.cache/llama.cpp-src
//   g++ -O2 -std=c++17 -I$S/include -I$S/ggml/include bench/support/engine-threadpool.cpp -o .cache/engine-threadpool
//     $B/libllama.v0.5.0.so $B/libggml.v0.5.0.so $B/libggml-base.so -Wl,-rpath,$PWD/$B   (one line)
//   LIBDIR=$B .cache/engine-threadpool <model.gguf> [rounds] [tokens] [modes] [threads]
// ($S is the llama.cpp source that `npm run bench:engine -- --vs-llama-server` clones: the headers
// of the very release node-llama-cpp's binaries are built from.)
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

// Long-lived threads that run one job at a time, each in turn (libuv's workers, roughly).
struct Rotation {
    struct Worker {
        std::mutex              mutex;
        std::condition_variable wake;
        std::function<void()>   job;
        bool                    done = false;
        bool                    stop = false;
        std::thread             thread;
    };
    std::vector<Worker> workers;
    size_t              next = 0;
    explicit Rotation(size_t count) : workers(count) {
        for (auto & worker : workers) {
            worker.thread = std::thread([&worker] {
                std::unique_lock<std::mutex> lock(worker.mutex);
                while (true) {
                    worker.wake.wait(lock, [&] { return worker.stop || (worker.job && !worker.done); });
                    if (worker.stop) return;
                    worker.job();
                    worker.done = true;
                    worker.wake.notify_all();
                }
            });
        }
    }
    void run(std::function<void()> job) {
        Worker & worker = workers[next++ % workers.size()];
        std::unique_lock<std::mutex> lock(worker.mutex);
        worker.job  = std::move(job);
        worker.done = false;
        worker.wake.notify_all();
        worker.wake.wait(lock, [&] { return worker.done; });
        worker.job = nullptr;
    }
    ~Rotation() {
        for (auto & worker : workers) {
            {
                std::lock_guard<std::mutex> lock(worker.mutex);
                worker.stop = true;
            }
            worker.wake.notify_all();
            worker.thread.join();
        }
    }
};

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <model.gguf> [rounds] [tokens] [modes, e.g. disposable,pool50,pool0] [threads]\n", argv[0]);
        return 2;
    }
    const int         rounds  = argc > 2 ? atoi(argv[2]) : 3;
    const int         n_gen   = argc > 3 ? atoi(argv[3]) : 32;
    const std::string modes   = argc > 4 ? argv[4] : "disposable,pool50,pool0";
    const int         threads = argc > 5 ? atoi(argv[5]) : 2;

    // node-llama-cpp's binaries pick their CPU variant (libggml-cpu-zen4.so, ...) at run time.
    const char * libdir = getenv("LIBDIR");
    if (libdir) {
        ggml_backend_load_all_from_path(libdir);
    } else {
        ggml_backend_load_all();
    }
    llama_backend_init();
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU));
    auto threadpool_new  = (ggml_threadpool_t (*)(ggml_threadpool_params *)) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
    auto threadpool_free = (void (*)(ggml_threadpool_t)) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
    if (!threadpool_new || !threadpool_free) {
        fprintf(stderr, "the CPU backend has no threadpool functions\n");
        return 1;
    }

    llama_model * model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (!model) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    // As node-llama-cpp creates a context for one sequence: batch = micro-batch = 512.
    auto params            = llama_context_default_params();
    params.n_ctx           = 2048;
    params.n_batch         = 512;
    params.n_ubatch        = 512;
    params.n_threads       = threads;
    params.n_threads_batch = threads;
    params.n_seq_max       = 1;
    llama_context * ctx    = llama_init_from_model(model, params);
    const int n_vocab      = llama_vocab_n_tokens(llama_model_get_vocab(model));

    std::vector<std::string> list;
    for (size_t start = 0, end; start <= modes.size(); start = end + 1) {
        end = modes.find(',', start);
        if (end == std::string::npos) {
            end = modes.size();
        }
        list.push_back(modes.substr(start, end - start));
    }
    Rotation rotation(4);
    for (int round = 0; round < rounds; round++) {
        for (size_t index = 0; index < list.size(); index++) {
            const std::string & mode = list[(index + round) % list.size()];
            ggml_threadpool_t pool = nullptr;
            if (mode.rfind("pool", 0) == 0) {
                ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
                pool_params.poll = atoi(mode.c_str() + 4);
                pool = threadpool_new(&pool_params);
                llama_attach_threadpool(ctx, pool, pool);
            }
            llama_memory_clear(llama_get_memory(ctx), true);
            llama_token token = 1000;
            llama_decode(ctx, llama_batch_get_one(&token, 1));  // warm-up
            const auto started = std::chrono::steady_clock::now();
            for (int i = 0; i < n_gen; i++) {
                llama_token next = token + 1 + i;
                int status = 0;
                if (mode == "hop") {
                    std::thread caller([&] { status = llama_decode(ctx, llama_batch_get_one(&next, 1)); });
                    caller.join();
                } else if (mode == "rotate") {
                    rotation.run([&] { status = llama_decode(ctx, llama_batch_get_one(&next, 1)); });
                } else {
                    status = llama_decode(ctx, llama_batch_get_one(&next, 1));
                }
                if (status != 0) {
                    fprintf(stderr, "decode failed\n");
                    return 1;
                }
                const float * logits = llama_get_logits_ith(ctx, -1);
                int best = 0;
                for (int v = 1; v < n_vocab; v++) {
                    if (logits[v] > logits[best]) {
                        best = v;
                    }
                }
            }
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            printf("round %d %-10s %6.2f tok/s\n", round + 1, mode.c_str(), n_gen / seconds);
            fflush(stdout);
            if (pool) {
                llama_detach_threadpool(ctx);
                threadpool_free(pool);
            }
        }
    }
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
