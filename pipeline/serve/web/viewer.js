// The 3D material preview: the asset's maps on a plane and a sphere (albedo, normal, roughness, AO, height),
// with three.js vendored in ./vendor so the page works offline.
import {
  ACESFilmicToneMapping, Color, DirectionalLight, HemisphereLight, Mesh, MeshStandardMaterial, NoColorSpace,
  PerspectiveCamera, PlaneGeometry, RepeatWrapping, Scene, SphereGeometry, SRGBColorSpace, TextureLoader, WebGLRenderer,
} from "./vendor/three.min.js";

export function materialPreview(canvas, urls) {
  const renderer = new WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  renderer.toneMapping = ACESFilmicToneMapping;
  const scene = new Scene();
  scene.background = new Color(0x202328);
  const camera = new PerspectiveCamera(35, canvas.width / canvas.height, 0.1, 50);
  camera.position.set(0, 0.6, 5.2);
  camera.lookAt(0, 0, 0);
  scene.add(new HemisphereLight(0xffffff, 0x404040, 1.2));
  const sun = new DirectionalLight(0xffffff, 2.2);
  sun.position.set(3, 4, 5);
  scene.add(sun);

  const loader = new TextureLoader();
  const load = (role, repeat) => {
    if (!urls[role]) return null;
    const t = loader.load(urls[role], () => requestAnimationFrame(draw));
    t.wrapS = t.wrapT = RepeatWrapping;
    t.repeat.set(...repeat);
    t.colorSpace = role === "albedo" ? SRGBColorSpace : NoColorSpace;  // data maps are linear
    return t;
  };
  const material = (repeat) => new MeshStandardMaterial({
    map: load("albedo", repeat), normalMap: load("normal", repeat), roughnessMap: load("roughness", repeat),
    aoMap: load("ao", repeat), displacementMap: load("height", repeat), displacementScale: 0.06,
    displacementBias: -0.03, roughness: 1, metalness: 0,
  });
  const plane = new Mesh(new PlaneGeometry(2, 2, 96, 96), material([1, 1]));
  plane.position.set(-1.25, 0, 0);
  plane.rotation.x = -0.5;
  const sphere = new Mesh(new SphereGeometry(0.95, 96, 48), material([2, 1]));
  sphere.position.set(1.25, 0, 0);
  scene.add(plane, sphere);

  // Drawn when a map arrives and while the user drags (no render loop: software GL stays idle).
  let drag = null;
  function draw() { if (canvas.isConnected) renderer.render(scene, camera); }
  canvas.addEventListener("pointerdown", (e) => { drag = e.clientX; canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointerup", () => { drag = null; });
  canvas.addEventListener("pointermove", (e) => {
    if (drag === null) return;
    const turn = (e.clientX - drag) * 0.01;
    drag = e.clientX;
    sphere.rotation.y += turn;
    plane.rotation.z += turn;
    requestAnimationFrame(draw);
  });
  draw();
  canvas.dataset.ready = "1";
  return renderer;
}
