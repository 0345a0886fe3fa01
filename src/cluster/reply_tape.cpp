#include <redstream/cluster/reply_tape.hpp>

namespace redstream::cluster {

namespace {

struct recording_adapter final : any_adapter::impl_base {
    explicit recording_adapter(reply_tape& t) : tape(t) {}
    void on_node(std::size_t index, resp::node const& n, error_code&) override {
        if (tape.replies.size() <= index)
            tape.replies.resize(index + 1);
        tape.replies[index].elements.push_back({n.data_type, n.children, n.depth, std::string{n.value}, n.out_of_band});
    }
    reply_tape& tape;
};

} // namespace

any_adapter reply_tape::adapter() { return any_adapter{std::make_unique<recording_adapter>(*this)}; }

error_code reply_tape::play(recorded_reply const& r, std::size_t index, any_adapter& out) {
    error_code ec;
    if (auto const text = r.error_text(); !text.empty())
        out.note_error(text);
    for (auto const& e : r.elements) {
        resp::node n;
        n.data_type = e.data_type;
        n.children = e.children;
        n.depth = e.depth;
        n.value = e.value;
        n.out_of_band = e.out_of_band;
        out.on_node(index, n, ec);
        if (ec)
            break;
    }
    return ec;
}

} // namespace redstream::cluster
