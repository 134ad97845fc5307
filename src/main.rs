fn main() {
    std::process::exit(opsh::main());
}
