#include "io/file_watcher.hpp"

#include "io/main_loop_impl.hpp"

namespace drl::io {

struct FileWatcher::Handles {
  uv_fs_event_t event{};
  uv_timer_t timer{};
  FileWatcher* owner = nullptr;
  int open_handles = 0;

  static void on_event(uv_fs_event_t* handle, const char*, int, int status) {
    auto* handles = static_cast<Handles*>(handle->data);
    if (handles->owner == nullptr || status != 0) return;
    // Restarting the timer on every event: act once the burst of events is over.
    uv_timer_start(&handles->timer, on_timer, handles->owner->debounce_ms_, 0);
  }

  static void on_timer(uv_timer_t* timer) {
    auto* handles = static_cast<Handles*>(timer->data);
    if (handles->owner != nullptr) handles->owner->on_change_();
  }
};

FileWatcher::FileWatcher(MainLoop& loop, std::string path, std::function<void()> on_change,
                         std::uint64_t debounce_ms)
    : loop_(loop),
      path_(std::move(path)),
      on_change_(std::move(on_change)),
      debounce_ms_(debounce_ms) {}

FileWatcher::~FileWatcher() {
  close();
}

int FileWatcher::start() {
  if (handles_ != nullptr) return 0;
  const std::size_t slash = path_.rfind('/');
  const std::string directory =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  handles_ = new Handles;
  handles_->owner = this;
  uv_timer_init(native_loop(loop_), &handles_->timer);
  handles_->timer.data = handles_;
  uv_fs_event_init(native_loop(loop_), &handles_->event);
  handles_->event.data = handles_;
  handles_->open_handles = 2;
  const int status = uv_fs_event_start(&handles_->event, Handles::on_event, directory.c_str(), 0);
  if (status != 0) close();
  return status;
}

void FileWatcher::close() {
  if (handles_ == nullptr) return;
  Handles* handles = handles_;
  handles_ = nullptr;
  handles->owner = nullptr;
  const auto closed = [](uv_handle_t* handle) {
    auto* owner = static_cast<Handles*>(handle->data);
    if (--owner->open_handles == 0) delete owner;
  };
  uv_fs_event_stop(&handles->event);
  uv_timer_stop(&handles->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->event), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&handles->timer), closed);
}

}  // namespace drl::io
