//! `demo`: the whole sample mesh on this machine, one command.

fn main() {
    eprintln!("demo: not built yet");
    std::process::exit(2);
}
