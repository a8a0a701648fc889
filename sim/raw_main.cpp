// Raw Verilator harness for eavs_core: no cocotb, no Python in the clock loop.
//
// Measures how many clock cycles per second Verilator's model of the core
// simulates, for bench/sim_speed.py. sim/verilator_raw.py writes the input
// file (register offsets from hw.regmap, model image and event words from
// hw.protocol) and checks the result words it reads back against sw.golden,
// so a fast but wrong simulation cannot pass.
//
// Verilator spells the ports' double underscore "___05F" in C++.
//
// Input file (little-endian uint32): ctrl_off batch_off start_load start_run
// n_image image[n_image] n_events events[n_events] batch n_result_words.
// Output file: the result words, then the cycle count (uint64, 2 words).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

static Vtop* top;
static uint64_t cycles = 0;

static void tick() {
    top->clk = 0;
    top->eval();
    top->clk = 1;
    top->eval();
    ++cycles;
}

static std::vector<uint32_t> received;

static void tick_collect() {
    // m_axis__tready is held at 1: a word is taken when tvalid is high at the edge.
    bool take = top->m_axis___05Ftvalid;
    uint32_t data = top->m_axis___05Ftdata;
    tick();
    if (take) received.push_back(data);
}

static void axil_write(uint32_t addr, uint32_t value) {
    top->s_axil___05Fawaddr = addr;
    top->s_axil___05Fwdata = value;
    top->s_axil___05Fwstrb = 0xF;
    top->s_axil___05Fawvalid = 1;
    top->s_axil___05Fwvalid = 1;
    top->s_axil___05Fbready = 1;
    top->eval();
    for (int i = 0; i < 100 && !(top->s_axil___05Fawready && top->s_axil___05Fwready); ++i) { top->eval(); tick_collect(); }
    tick_collect();
    top->s_axil___05Fawvalid = 0;
    top->s_axil___05Fwvalid = 0;
    for (int i = 0; i < 100 && !top->s_axil___05Fbvalid; ++i) tick_collect();
    tick_collect();
    top->s_axil___05Fbready = 0;
}

static bool stream(const std::vector<uint32_t>& words, uint64_t limit) {
    for (size_t k = 0; k < words.size(); ++k) {
        top->s_axis___05Ftdata = words[k];
        top->s_axis___05Ftlast = (k + 1 == words.size());
        top->s_axis___05Ftvalid = 1;
        top->eval();
        uint64_t t0 = cycles;
        while (!top->s_axis___05Ftready) {
            tick_collect();
            top->eval();
            if (cycles - t0 > limit) return false;
        }
        tick_collect();
    }
    top->s_axis___05Ftvalid = 0;
    top->s_axis___05Ftlast = 0;
    return true;
}

int main(int argc, char** argv) {
    if (argc != 3) { std::fprintf(stderr, "usage: %s IN OUT\n", argv[0]); return 2; }
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) { std::perror(argv[1]); return 2; }
    std::vector<uint32_t> in;
    uint32_t w;
    while (std::fread(&w, 4, 1, f) == 1) in.push_back(w);
    std::fclose(f);
    size_t p = 0;
    uint32_t ctrl = in[p++], batch_off = in[p++], start_load = in[p++], start_run = in[p++];
    std::vector<uint32_t> image(in.begin() + p + 1, in.begin() + p + 1 + in[p]);
    p += 1 + image.size();
    std::vector<uint32_t> events(in.begin() + p + 1, in.begin() + p + 1 + in[p]);
    p += 1 + events.size();
    uint32_t batch = in[p++], n_result = in[p++];

    Verilated::commandArgs(argc, argv);
    top = new Vtop;
    top->m_axis___05Ftready = 1;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = cycles;
    axil_write(ctrl, start_load);
    if (!stream(image, 1000000)) { std::fprintf(stderr, "model image not accepted\n"); return 1; }
    for (int i = 0; i < 64; ++i) tick_collect();
    axil_write(batch_off, batch);
    axil_write(ctrl, start_run);
    if (!stream(events, 100000000)) { std::fprintf(stderr, "events not accepted\n"); return 1; }
    for (uint64_t i = 0; received.size() < n_result && i < 100000000; ++i) tick_collect();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    uint64_t n = cycles - c0;
    FILE* o = std::fopen(argv[2], "wb");
    std::fwrite(received.data(), 4, received.size(), o);
    std::fwrite(&n, 8, 1, o);
    std::fwrite(&secs, 8, 1, o);
    std::fclose(o);
    top->final();
    delete top;
    return received.size() == n_result ? 0 : 1;
}
