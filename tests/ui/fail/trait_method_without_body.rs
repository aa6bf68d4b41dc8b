use cli_telemetry::track_tool;

trait Tool {
    #[track_tool]
    fn call(&self) -> Result<(), String>;
}

struct Echo;

impl Tool for Echo {
    fn call(&self) -> Result<(), String> {
        Ok(())
    }
}

fn main() {
    let _ = Echo.call();
}
