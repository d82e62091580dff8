// sqlx::migrate! embeds the migration folders at compile time; rebuild when one changes
// (including a new file, which the macro alone does not notice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
