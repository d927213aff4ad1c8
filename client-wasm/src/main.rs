//! Entry point of the trunk build: render the root component into `<body>`.

fn main() {
    yew::Renderer::<client_wasm::App>::new().render();
}
