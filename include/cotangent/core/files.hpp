#pragma once
// Files on disk: bounded reads (raw or gzip), SHA-256, atomic writes, and the user's cache
// directory. Datasets, checkpoints and the lazy device's program cache all use them.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ct {

/// No bound on the size of what is read.
inline constexpr std::uint64_t kNoSizeLimit = std::numeric_limits<std::uint64_t>::max();

/// The whole file as it is on disk. Throws IOError naming the path when it is a directory, cannot
/// be read, holds more than `limit` bytes, or does not fit in memory.
std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path,
                                     std::uint64_t limit = kNoSizeLimit);
/// The whole file, decompressed when it is gzip (by its magic bytes, not its name); `limit`
/// bounds the decompressed size (and so the compressed one, by gzip_size_bound).
std::vector<std::uint8_t> read_file(const std::filesystem::path& path,
                                    std::uint64_t limit = kNoSizeLimit);
/// Decompresses gzip bytes; throws IOError naming `what` if they are truncated or corrupt, or
/// as soon as they inflate past `limit` bytes (a small file can hold gigabytes of zeros).
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& bytes, const std::string& what,
                                 std::uint64_t limit = kNoSizeLimit);
/// The most bytes gzip needs for `size` bytes of any contents (stored blocks, header, trailer).
std::uint64_t gzip_size_bound(std::uint64_t size);
/// Lower-case hex SHA-256.
std::string sha256_hex(const void* data, std::size_t size);
/// Writes to a temporary file in the same directory, syncs it, renames it over `path`, and
/// syncs the directory: readers see the old file or the new one, never a torn one. The file
/// gets the permissions a plain create would (0666 less the umask; an existing file's are
/// kept). Temporaries are named `.NAME.tmp.PID.RANDOM`, and the first write into a directory
/// sweeps those of dead writers (see sweep_stale_temporaries). Throws IOError naming the path
/// and the reason (no space, read-only, permission denied…).
void write_file_atomically(const std::filesystem::path& path, const void* data, std::size_t size);
/// A temporary's name for a file NAME: `.NAME.tmp.PID.RANDOM`, hidden, and naming its writer
/// so that sweep_stale_temporaries can tell a dead writer's. For files another program writes
/// (a compiler's output) before they are renamed into place.
std::string temporary_name(const std::string& name);
/// Removes the temporaries of write_file_atomically in `directory` whose writer (by the pid in
/// their name) is no longer running: what a writer killed mid-write leaves behind. Live writers'
/// temporaries are left alone. Returns how many were removed.
std::size_t sweep_stale_temporaries(const std::filesystem::path& directory);
/// Creates `directory` if missing (with its parents) and checks a file can be written there,
/// by writing and removing a probe; throws IOError naming the path and the reason otherwise.
/// For checking an output directory before hours of work rather than after.
void check_writable_directory(const std::filesystem::path& directory);

/// `$XDG_CACHE_HOME/cotangent/SUBFOLDER`, else `~/.cache/cotangent/SUBFOLDER`.
std::filesystem::path user_cache_directory(std::string_view subfolder);

}  // namespace ct
