export { WebGLRenderer, Scene, PerspectiveCamera, Mesh, PlaneGeometry, SphereGeometry, MeshStandardMaterial,
  TextureLoader, RepeatWrapping, SRGBColorSpace, NoColorSpace, DirectionalLight, HemisphereLight, Color,
  Vector2, ACESFilmicToneMapping } from "three";
